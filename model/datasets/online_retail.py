"""UCI Online Retail (Chen 2015): real purchase lines of a UK gift wholesaler.

StockCode = SKU, CustomerID = customer ("17850.0" -> "17850"), Quantity, amount = Quantity x
UnitPrice, InvoiceDate (UK local time, read as UTC). Cancellation invoices ("C...") carry
negative quantities and stay as negative lines, so aggregation nets them against the purchases
they reverse. Dropped: guest rows (no CustomerID), non-product codes (postage, fees, manual
adjustments, samples, gift vouchers) and lines with a price of zero or less.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.datasets.csv_purchases import open_csv
from model.interactions import Purchases

NON_PRODUCT = frozenset({"POST", "D", "M", "DOT", "BANK CHARGES", "C2", "CRUK", "PADS",
                         "AMAZONFEE", "S", "B"})
REQUIRED = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")


def is_product(code: str) -> bool:
    """False for fee/adjustment codes (case-insensitive) and gift vouchers (gift_0001_20)."""
    code = code.strip().upper()
    return bool(code) and code not in NON_PRODUCT and not code.startswith("GIFT_")


def csv_files(path: Path) -> list[Path]:
    """The CSV itself, or every *.csv in a folder (the data set comes in two halves)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"{path} holds no .csv files")
    return files


def load_online_retail(path: Path) -> Purchases:
    """Product lines of identified customers, cancellations included as negative lines."""
    cust, sku, qty, price, when = [], [], [], [], []
    for f in csv_files(path):
        fh, reader = open_csv(f, REQUIRED)
        with fh:
            for n, row in enumerate(reader, 2):
                customer = (row["CustomerID"] or "").strip()
                code = (row["StockCode"] or "").strip()
                if not customer or not is_product(code):
                    continue
                try:
                    p, q = float(row["UnitPrice"] or 0), float(row["Quantity"])
                except ValueError as exc:
                    raise ValueError(f"{f}:{n}: {exc}") from None
                if p <= 0:
                    continue
                cust.append(customer.removesuffix(".0"))
                sku.append(code.upper())
                qty.append(q)
                price.append(p)
                when.append(row["InvoiceDate"].strip())
    if not cust:
        raise ValueError(f"{path} holds no usable rows (no product lines of identified customers)")
    try:
        stamps = np.array(when, dtype="datetime64[s]").astype(np.int64)
    except ValueError as exc:
        raise ValueError(f"{path}: bad InvoiceDate ({exc})") from None
    qty_a = np.array(qty)
    return Purchases(np.array(cust, dtype=object), np.array(sku, dtype=object), qty_a,
                     qty_a * np.array(price), stamps)
