"""UCI Online Retail (Chen 2015): real purchase lines of a UK gift wholesaler.

StockCode = SKU, CustomerID = customer ("17850.0" -> "17850"), Quantity, amount = Quantity x
UnitPrice, InvoiceDate. Cancellation invoices ("C...") carry negative quantities and stay as
negative lines, so aggregation nets them against the purchases they reverse. Guest rows (no
CustomerID), non-product codes and lines with a price of zero or less are dropped.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from model.datasets.csv_purchases import parse_time
from model.interactions import Purchases

NON_PRODUCT = {"POST", "D", "M", "DOT", "BANK CHARGES", "C2", "CRUK", "PADS", "AMAZONFEE",
               "S", "B", "m"}
# Product codes are five digits with an optional letter suffix (85123A); the rest are fees.
PRODUCT_CODE = re.compile(r"^\d{5}[A-Za-z]*$")
REQUIRED = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")


def is_product(code: str) -> bool:
    return code not in NON_PRODUCT and bool(PRODUCT_CODE.match(code))


def read_rows(path: Path):
    files = sorted(Path(path).glob("*.csv")) if Path(path).is_dir() else [Path(path)]
    if not files:
        raise FileNotFoundError(f"{path} holds no .csv files")
    for f in files:
        with f.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{f}: missing column(s) {', '.join(missing)}")
            yield from reader


def load_online_retail(path: Path) -> Purchases:
    cust, sku, qty, amount, when = [], [], [], [], []
    for row in read_rows(path):
        customer = row["CustomerID"].strip()
        code = row["StockCode"].strip()
        price = float(row["UnitPrice"] or 0)
        if not customer or price <= 0 or not is_product(code):
            continue
        q = float(row["Quantity"])
        cust.append(customer[:-2] if customer.endswith(".0") else customer)
        sku.append(code.upper())
        qty.append(q)
        amount.append(q * price)
        when.append(parse_time(row["InvoiceDate"]))
    return Purchases(np.array(cust, dtype=object), np.array(sku, dtype=object),
                     np.array(qty), np.array(amount), np.array(when, dtype=np.int64))
