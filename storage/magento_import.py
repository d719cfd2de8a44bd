"""Backfill from a Magento database: `sales_order` + `sales_order_item` (+ credit memos).

Orders are read in chunks (keyset on `entity_id`), turned into the same `OrderSnapshot`s the
webhook receives, validated, and applied by `storage.ingestion.apply_snapshots`, one transaction
per chunk. So an import can run beside live webhooks, and again: a snapshot older than what we
hold is ignored, an equal one changes nothing.

Refunded quantities: the larger of `sales_order_item.qty_refunded` and the sum of the item's
refunded credit memo items (`sales_creditmemo.state` 2, or NULL), capped at what was not
canceled, so refunds are counted even where a data migration left the item column at 0.
Magento stores TIMESTAMPs in UTC; the session's time zone is set to UTC before reading.
An order that fails validation is skipped and reported (it is never half-applied).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, column, func, select, table
from tqdm import tqdm

from config import get_settings
from storage.db import as_engine, make_engine, run_transaction
from storage.ingestion import Policy, apply_snapshots, utcnow
from storage.snapshot import OrderSnapshot, SnapshotError, parse_order

ORDER_COLS = (
    "entity_id", "increment_id", "store_id", "customer_id", "customer_email",
    "customer_is_guest", "state", "status", "created_at", "updated_at",
    "order_currency_code", "grand_total",
)
ITEM_COLS = (
    "item_id", "order_id", "parent_item_id", "product_id", "sku", "name", "product_type",
    "qty_ordered", "qty_canceled", "qty_refunded", "qty_invoiced", "price", "row_total",
)
SALES_ORDER = table("sales_order", *(column(c) for c in ORDER_COLS))
SALES_ORDER_ITEM = table("sales_order_item", *(column(c) for c in ITEM_COLS))
CREDITMEMO = table("sales_creditmemo", column("entity_id"), column("order_id"), column("state"))
CREDITMEMO_ITEM = table(
    "sales_creditmemo_item", column("parent_id"), column("order_item_id"), column("qty")
)
REFUNDED_MEMO_STATE = 2


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """"3months", "92days", "2weeks", "1year" (also 3mo, 92d, 2w, 1y) before now, or a date.

    Months step back by calendar months like MySQL's `INTERVAL 3 MONTH`. Times are UTC.
    """
    now = now or utcnow()
    m = re.fullmatch(r"\s*(\d+)\s*(months?|mo|days?|d|weeks?|w|years?|y)\s*", value.lower())
    if m is None:
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            raise ValueError(
                f"--since {value!r}: expected e.g. 3months, 92days, 2weeks, 1year or YYYY-MM-DD"
            ) from None
    n, unit = int(m.group(1)), m.group(2)
    if unit.startswith("d"):
        return now - timedelta(days=n)
    if unit.startswith("w"):
        return now - timedelta(weeks=n)
    months = n * 12 if unit.startswith("y") else n
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    month += 1
    days_in_month = (datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return now.replace(year=year, month=month, day=min(now.day, days_in_month))


@dataclass
class ImportStats:
    orders: int = 0
    lines: int = 0
    applied: int = 0
    stale: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def _utc(conn: Connection) -> Connection:
    if conn.dialect.name in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET time_zone = '+00:00'")
    return conn


def count_orders(source: Engine, since: datetime | None = None) -> int:
    q = select(func.count()).select_from(SALES_ORDER)
    if since is not None:
        q = q.where(SALES_ORDER.c.created_at >= since)
    with source.connect() as conn:
        return int(_utc(conn).execute(q).scalar() or 0)


def _snapshot_dict(order: Any, items: list[Any], refunds: dict[int, Decimal]) -> dict[str, Any]:
    lines = []
    for it in items:
        ordered = it.qty_ordered or Decimal(0)
        canceled = it.qty_canceled or Decimal(0)
        refunded = max(it.qty_refunded or Decimal(0), refunds.get(it.item_id, Decimal(0)))
        lines.append(
            {
                "item_id": it.item_id,
                "parent_item_id": it.parent_item_id,
                "product_id": it.product_id,
                "sku": it.sku,
                "name": it.name,
                "product_type": it.product_type or "simple",
                "qty_ordered": ordered,
                "qty_canceled": canceled,
                "qty_refunded": max(Decimal(0), min(refunded, ordered - canceled)),
                "qty_invoiced": it.qty_invoiced or Decimal(0),
                "price": it.price or Decimal(0),
                "row_total": it.row_total or Decimal(0),
            }
        )
    return {
        "entity_id": order.entity_id,
        "increment_id": order.increment_id or str(order.entity_id),
        "store_id": order.store_id,
        "customer_id": order.customer_id,
        "customer_email": order.customer_email,
        "customer_is_guest": bool(order.customer_is_guest),
        "state": order.state,
        "status": order.status,
        "created_at": order.created_at,
        "updated_at": order.updated_at or order.created_at,
        "currency": order.order_currency_code,
        "grand_total": order.grand_total,
        "items": lines,
    }


def read_orders(
    source: Engine, since: datetime | None = None, chunk_size: int = 500
) -> Iterator[tuple[list[OrderSnapshot], list[tuple[int, str]], int]]:
    """Chunks of (valid snapshots, rejected (entity_id, error), item rows read)."""
    last = 0
    while True:
        with source.connect() as conn:
            _utc(conn)
            q = select(SALES_ORDER).where(SALES_ORDER.c.entity_id > last)
            if since is not None:
                q = q.where(SALES_ORDER.c.created_at >= since)
            orders = conn.execute(q.order_by(SALES_ORDER.c.entity_id).limit(chunk_size)).all()
            if not orders:
                return
            ids = [o.entity_id for o in orders]
            items: dict[int, list[Any]] = defaultdict(list)
            q_items = (
                select(SALES_ORDER_ITEM)
                .where(SALES_ORDER_ITEM.c.order_id.in_(ids))
                .order_by(SALES_ORDER_ITEM.c.order_id, SALES_ORDER_ITEM.c.item_id)
            )
            n_items = 0
            for it in conn.execute(q_items):
                items[it.order_id].append(it)
                n_items += 1
            q_memo = (
                select(CREDITMEMO_ITEM.c.order_item_id, func.sum(CREDITMEMO_ITEM.c.qty))
                .select_from(
                    CREDITMEMO_ITEM.join(
                        CREDITMEMO, CREDITMEMO.c.entity_id == CREDITMEMO_ITEM.c.parent_id
                    )
                )
                .where(
                    CREDITMEMO.c.order_id.in_(ids),
                    func.coalesce(CREDITMEMO.c.state, REFUNDED_MEMO_STATE) == REFUNDED_MEMO_STATE,
                )
                .group_by(CREDITMEMO_ITEM.c.order_item_id)
            )
            refunds = {r[0]: Decimal(r[1] or 0) for r in conn.execute(q_memo)}
        valid, rejected = [], []
        for o in orders:
            try:
                valid.append(parse_order(_snapshot_dict(o, items[o.entity_id], refunds)))
            except SnapshotError as exc:
                rejected.append((o.entity_id, str(exc)))
        yield valid, rejected, n_items
        last = ids[-1]


def import_magento(
    source: Engine | str,
    target: Engine | str | None = None,
    *,
    since: datetime | None = None,
    chunk_size: int | None = None,
    policy: Policy | None = None,
    progress: bool = True,
) -> ImportStats:
    """Import a Magento database's orders into ours (default: DMFREC_DATABASE_URL)."""
    src = source if isinstance(source, Engine) else make_engine(source)
    dst = as_engine(target)
    policy = policy or Policy.from_settings()
    chunk_size = chunk_size or get_settings().import_chunk_size
    stats = ImportStats()
    started = time.perf_counter()
    total = count_orders(src, since)
    with tqdm(total=total, unit="order", disable=not progress, dynamic_ncols=True) as bar:
        for valid, rejected, n_items in read_orders(src, since, chunk_size):
            outcomes = run_transaction(
                dst, lambda s, v=valid: apply_snapshots(s, v, policy)  # type: ignore[misc]
            )
            stats.orders += len(valid) + len(rejected)
            stats.lines += n_items
            stats.applied += outcomes.count("applied")
            stats.stale += outcomes.count("stale")
            stats.rejected.extend(rejected)
            bar.update(len(valid) + len(rejected))
            bar.set_postfix(lines=stats.lines, rejected=len(stats.rejected), refresh=False)
    stats.seconds = time.perf_counter() - started
    if not isinstance(source, Engine):
        src.dispose()
    return stats
