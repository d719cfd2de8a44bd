"""The generic purchase CSV: customer_id, sku, qty, amount, ordered_at (the shop extraction).

ordered_at is an ISO date/time (naive = UTC) or unix seconds. Ids are kept as text, verbatim;
rows with an empty customer_id are guest orders and are dropped, as in Online Retail.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from model.interactions import Purchases

COLUMNS = ("customer_id", "sku", "qty", "amount", "ordered_at")


def parse_time(text: str) -> int:
    """Unix seconds from `1700000000`, `2011-12-09`, `2011-12-09 12:50:00` or `...Z`."""
    text = text.strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def open_csv(path: Path, required: tuple[str, ...]):
    """(file handle, DictReader) after checking the path and that every column is there."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a file")
    fh = path.open(newline="", encoding="utf-8-sig", errors="replace")
    reader = csv.DictReader(fh)
    header = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        fh.close()
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; "
                         f"expected {', '.join(required)}")
    reader.fieldnames = header
    return fh, reader


def load_csv(path: Path) -> Purchases:
    """One Purchases row per CSV line; a bad number or date is reported with its line."""
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    fh, reader = open_csv(path, COLUMNS)
    with fh:
        for n, row in enumerate(reader, 2):
            customer = (row["customer_id"] or "").strip()
            if not customer:
                continue
            try:
                cols["qty"].append(float(row["qty"]))
                cols["amount"].append(float(row["amount"] or 0))
                cols["ordered_at"].append(parse_time(row["ordered_at"] or ""))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from None
            cols["customer_id"].append(customer)
            cols["sku"].append((row["sku"] or "").strip())
    if not cols["sku"]:
        raise ValueError(f"{path} holds no usable rows (no purchase lines of a customer)")
    return Purchases(
        np.array(cols["customer_id"], dtype=object), np.array(cols["sku"], dtype=object),
        np.array(cols["qty"]), np.array(cols["amount"]), np.array(cols["ordered_at"]),
    )
