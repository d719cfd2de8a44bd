"""A Magento-shaped database filled from the UCI Online Retail CSVs (benchmarks and tests).

Tables and columns carry Magento 2's names (`sales_order`, `sales_order_item`,
`sales_creditmemo`, `sales_creditmemo_item`; a subset of their columns, same types), so
`storage.magento_import` reads this exactly as it reads a shop's database.

Mapping of the CSV (see shared/data/online-retail/SOURCE.md):
- each invoice becomes an order (`increment_id` = InvoiceNo, `created_at` = InvoiceDate, GBP);
  each of its rows an item (simple product, `sku` = StockCode, fully invoiced). Rows with a
  quantity <= 0 or a negative price in an ordinary invoice cannot be Magento lines: skipped.
- no CustomerID: a guest order, email `guest-<InvoiceNo>@example.invalid`.
- a cancellation row ("C" invoice) becomes credit memo items against the same customer's
  earlier lines of that SKU, latest first, each refunding at most what is left of the line;
  whatever finds nothing to refund (bought before the data starts) is dropped, as are
  cancellations without a customer. One credit memo (state 2, refunded) per C invoice and
  order; the order's `updated_at` moves to the memo's time and it becomes `closed` when
  nothing is left, else `complete`.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    Column,
    Engine,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    event,
)

META = MetaData()
_MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _money(name: str) -> Column:
    return Column(name, Numeric(20, 4))


def _qty(name: str) -> Column:
    return Column(name, Numeric(12, 4), nullable=False, default=0)


SALES_ORDER = Table(
    "sales_order", META,
    Column("entity_id", Integer, primary_key=True, autoincrement=False),
    Column("state", String(32)),
    Column("status", String(32)),
    Column("increment_id", String(50)),
    Column("store_id", SmallInteger),
    Column("customer_id", Integer, index=True),
    Column("customer_is_guest", SmallInteger),
    Column("customer_email", String(128)),
    Column("order_currency_code", String(255)),
    _money("grand_total"),
    _money("subtotal"),
    Column("created_at", TIMESTAMP, nullable=False, index=True),
    Column("updated_at", TIMESTAMP, nullable=False, index=True),
    **_MYSQL,
)
SALES_ORDER_ITEM = Table(
    "sales_order_item", META,
    Column("item_id", Integer, primary_key=True, autoincrement=False),
    Column("order_id", Integer, nullable=False, index=True),
    Column("parent_item_id", Integer),
    Column("store_id", SmallInteger),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    Column("product_id", Integer),
    Column("product_type", String(255)),
    Column("sku", String(255)),
    Column("name", String(255)),
    _qty("qty_ordered"),
    _qty("qty_canceled"),
    _qty("qty_refunded"),
    _qty("qty_invoiced"),
    _money("price"),
    _money("base_price"),
    _money("row_total"),
    _money("base_row_total"),
    **_MYSQL,
)
SALES_CREDITMEMO = Table(
    "sales_creditmemo", META,
    Column("entity_id", Integer, primary_key=True, autoincrement=False),
    Column("store_id", SmallInteger),
    Column("order_id", Integer, nullable=False, index=True),
    Column("state", Integer),
    Column("increment_id", String(50)),
    _money("grand_total"),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    **_MYSQL,
)
SALES_CREDITMEMO_ITEM = Table(
    "sales_creditmemo_item", META,
    Column("entity_id", Integer, primary_key=True, autoincrement=False),
    Column("parent_id", Integer, nullable=False, index=True),
    Column("order_item_id", Integer),
    Column("product_id", Integer),
    Column("sku", String(255)),
    Column("name", String(255)),
    Column("qty", Numeric(12, 4)),
    _money("price"),
    _money("row_total"),
    **_MYSQL,
)


@event.listens_for(META, "before_create")
def _utc_session(_target, connection, **_kw) -> None:
    if connection.dialect.name in ("mysql", "mariadb"):
        connection.exec_driver_sql("SET time_zone = '+00:00'")


@dataclass
class CsvRow:
    invoice: str
    sku: str
    name: str
    qty: int
    at: datetime
    price: Decimal
    customer: int | None


def csv_files(data_dir: Path) -> list[Path]:
    """The Online Retail CSVs of `shared/data/online-retail`, in date order."""
    return sorted(Path(data_dir).glob("online_retail_*.csv"))


def read_csv(paths: Iterable[Path], max_rows: int | None = None) -> Iterator[CsvRow]:
    """CSV rows in file order, typed; stops after `max_rows`."""
    n = 0
    for path in paths:
        with open(path, newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                if max_rows is not None and n >= max_rows:
                    return
                n += 1
                cid = rec["CustomerID"].strip()
                yield CsvRow(
                    invoice=rec["InvoiceNo"].strip(),
                    sku=rec["StockCode"].strip(),
                    name=rec["Description"].strip(),
                    qty=int(rec["Quantity"]),
                    at=datetime.fromisoformat(rec["InvoiceDate"]),
                    price=Decimal(rec["UnitPrice"]),
                    customer=int(float(cid)) if cid else None,
                )


@dataclass
class FixtureSummary:
    csv_rows: int
    orders: int
    items: int
    creditmemos: int
    creditmemo_items: int
    skipped_rows: int


def build_rows(rows: Iterable[CsvRow]) -> tuple[dict[str, list[dict[str, Any]]], FixtureSummary]:
    """The four tables' rows from CSV rows (pure Python; see the module doc for the mapping)."""
    orders: dict[str, dict[str, Any]] = {}
    by_id: dict[int, dict[str, Any]] = {}
    items: list[dict[str, Any]] = []
    memos: dict[tuple[str, int], dict[str, Any]] = {}
    memo_items: list[dict[str, Any]] = []
    lots: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    product_ids: dict[str, int] = {}
    n_rows = skipped = 0
    for r in rows:
        n_rows += 1
        if r.invoice.startswith("C"):
            if r.customer is None or r.qty >= 0 or not _refund(r, lots, by_id, memos, memo_items):
                skipped += 1
            continue
        if r.qty <= 0 or r.price < 0:
            skipped += 1
            continue
        order = orders.get(r.invoice)
        if order is None:
            order = orders[r.invoice] = _order(r, len(orders) + 1)
            by_id[order["entity_id"]] = order
        row_total = r.price * r.qty
        item = {
            "item_id": len(items) + 1,
            "order_id": order["entity_id"],
            "parent_item_id": None,
            "store_id": 1,
            "created_at": r.at,
            "updated_at": r.at,
            "product_id": product_ids.setdefault(r.sku, len(product_ids) + 1),
            "product_type": "simple",
            "sku": r.sku,
            "name": r.name or None,
            "qty_ordered": Decimal(r.qty),
            "qty_canceled": Decimal(0),
            "qty_refunded": Decimal(0),
            "qty_invoiced": Decimal(r.qty),
            "price": r.price,
            "base_price": r.price,
            "row_total": row_total,
            "base_row_total": row_total,
        }
        items.append(item)
        order["grand_total"] += row_total
        order["subtotal"] += row_total
        if r.customer is not None:
            lots[(r.customer, r.sku)].append(item)
    by_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_order[item["order_id"]].append(item)
    for order in orders.values():
        lines = by_order[order["entity_id"]]
        if all(i["qty_refunded"] == i["qty_ordered"] for i in lines):
            order["state"] = order["status"] = "closed"
    tables = {
        "sales_order": list(orders.values()),
        "sales_order_item": items,
        "sales_creditmemo": list(memos.values()),
        "sales_creditmemo_item": memo_items,
    }
    summary = FixtureSummary(n_rows, len(orders), len(items), len(memos), len(memo_items), skipped)
    return tables, summary


def _order(r: CsvRow, entity_id: int) -> dict[str, Any]:
    guest = r.customer is None
    return {
        "entity_id": entity_id,
        "state": "complete",
        "status": "complete",
        "increment_id": r.invoice,
        "store_id": 1,
        "customer_id": r.customer,
        "customer_is_guest": int(guest),
        "customer_email": f"guest-{r.invoice}@example.invalid" if guest
        else f"customer-{r.customer}@example.invalid",
        "order_currency_code": "GBP",
        "grand_total": Decimal(0),
        "subtotal": Decimal(0),
        "created_at": r.at,
        "updated_at": r.at,
    }


def _refund(r, lots, by_id, memos, memo_items) -> bool:
    """Refund -r.qty of the customer's latest lines of the SKU; False if nothing was left."""
    left = Decimal(-r.qty)
    stack = lots.get((r.customer, r.sku), [])
    done = False
    while left > 0 and stack:
        item = stack[-1]
        take = min(left, item["qty_ordered"] - item["qty_refunded"])
        item["qty_refunded"] += take
        left -= take
        done = True
        order = by_id[item["order_id"]]
        order["updated_at"] = max(order["updated_at"], r.at)
        memo = memos.get((r.invoice, item["order_id"]))
        if memo is None:
            memo = memos[(r.invoice, item["order_id"])] = {
                "entity_id": len(memos) + 1,
                "store_id": 1,
                "order_id": item["order_id"],
                "state": 2,
                "increment_id": r.invoice,
                "grand_total": Decimal(0),
                "created_at": r.at,
                "updated_at": r.at,
            }
        row_total = item["price"] * take
        memo["grand_total"] += row_total
        memo_items.append(
            {
                "entity_id": len(memo_items) + 1,
                "parent_id": memo["entity_id"],
                "order_item_id": item["item_id"],
                "product_id": item["product_id"],
                "sku": item["sku"],
                "name": item["name"],
                "qty": take,
                "price": item["price"],
                "row_total": row_total,
            }
        )
        if item["qty_refunded"] == item["qty_ordered"]:
            stack.pop()
    return done


def build_magento_db(
    engine: Engine,
    rows: Iterable[CsvRow],
    *,
    item_qty_refunded: bool = True,
    batch: int = 5000,
) -> FixtureSummary:
    """(Re)create the four Magento tables in `engine` and fill them from `rows`.

    item_qty_refunded=False leaves `sales_order_item.qty_refunded` at 0, so refunds are known
    from the credit memos only (as after some data migrations): the importer must cope.
    """
    tables, summary = build_rows(rows)
    if not item_qty_refunded:
        for item in tables["sales_order_item"]:
            item["qty_refunded"] = Decimal(0)
    with engine.begin() as conn:
        META.drop_all(conn)
        META.create_all(conn)
        if conn.dialect.name in ("mysql", "mariadb"):
            conn.exec_driver_sql("SET time_zone = '+00:00'")
        for name, table_rows in tables.items():
            table = META.tables[name]
            for start in range(0, len(table_rows), batch):
                conn.execute(table.insert(), table_rows[start : start + batch])
    return summary
