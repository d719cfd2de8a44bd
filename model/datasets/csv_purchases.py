"""The generic purchase CSV: customer_id, sku, qty, amount, ordered_at (the original extraction).

ordered_at is an ISO date/time or unix seconds. Ids are kept as text, verbatim.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from model.interactions import Purchases

COLUMNS = ("customer_id", "sku", "qty", "amount", "ordered_at")


def parse_time(text: str) -> int:
    text = text.strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def load_csv(path: Path) -> Purchases:
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; "
                             f"expected {', '.join(COLUMNS)}")
        cols: dict[str, list] = {c: [] for c in COLUMNS}
        for n, row in enumerate(reader, 2):
            try:
                cols["qty"].append(float(row["qty"]))
                cols["amount"].append(float(row["amount"] or 0))
                cols["ordered_at"].append(parse_time(row["ordered_at"]))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from None
            cols["customer_id"].append(row["customer_id"])
            cols["sku"].append(row["sku"])
    return Purchases(
        np.array(cols["customer_id"], dtype=object), np.array(cols["sku"], dtype=object),
        np.array(cols["qty"]), np.array(cols["amount"]), np.array(cols["ordered_at"]),
    )
