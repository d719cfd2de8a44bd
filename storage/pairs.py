"""Customer x SKU pairs (`interactions`), derived from the counted order lines.

A pair is the aggregate of its counted lines (`aggregate_query`). Ingestion touches only the
pairs where a line's contribution (`contributions`) changed (`update_pairs`): a pair that only
gained some is added to in place; one that lost some is recomputed in the database (locked
first, then one INSERT ... SELECT of the aggregates and one DELETE of those left without a
counted line). Either way no stored line or pair travels to Python and back (issue #17: the
pairs' read and double write were half of a batch's time).
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, case, delete, distinct, func, select, true, tuple_
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from storage.models import Interaction, Order, OrderLine
from storage.upsert import chunks, dialect_name, upsert, upsert_merge

if TYPE_CHECKING:
    from storage.ingestion import Policy

ORDERS = Order.__table__
LINES = OrderLine.__table__
PAIRS = Interaction.__table__
VALUES = ("qty", "amount", "order_count", "first_purchase_at", "last_purchase_at", "updated_at")
# One line's part in a pair's aggregate: (customer_key, sku, order_id, item_id, effective
# qty, amount, order created_at). Two states of an order whose contributions are equal give
# every pair the same aggregate.
Contribution = tuple[str, str, int, int, Decimal, Decimal, datetime]


def aggregate_query(policy: Policy) -> Select:
    """customer_key, sku, qty, amount, order_count, first_at, last_at of the counted lines.
    `counts` and `contributions` below say the same in Python: change them together."""
    level = LINES.c.is_leaf if policy.sku_level == "simple" else LINES.c.is_top
    q = (
        select(
            ORDERS.c.customer_key,
            LINES.c.sku,
            func.sum(LINES.c.effective_qty).label("qty"),
            func.sum(LINES.c.amount).label("amount"),
            func.count(distinct(ORDERS.c.entity_id)).label("order_count"),
            func.min(ORDERS.c.created_at).label("first_at"),
            func.max(ORDERS.c.created_at).label("last_at"),
        )
        .select_from(LINES.join(ORDERS, ORDERS.c.entity_id == LINES.c.order_id))
        .where(level.is_(True), LINES.c.effective_qty > 0, ORDERS.c.customer_key.is_not(None))
        .group_by(ORDERS.c.customer_key, LINES.c.sku)
    )
    if policy.uncounted_states:
        q = q.where(ORDERS.c.state.not_in(sorted(policy.uncounted_states)))
    if policy.guest_policy == "skip":
        q = q.where(ORDERS.c.guest.is_(False))
    return q


def counts(order: Mapping[str, Any], policy: Policy) -> bool:
    """Whether an order's lines count at all (`aggregate_query`'s order conditions)."""
    return (order["customer_key"] is not None
            and order["state"] not in policy.uncounted_states
            and not (policy.guest_policy == "skip" and order["guest"]))


def contributions(order: Mapping[str, Any], lines: Iterable[Mapping[str, Any]],
                  policy: Policy) -> set[Contribution]:
    """What an order (its `orders` row and `order_lines` rows) adds to the pairs."""
    if not counts(order, policy):
        return set()
    flag = "is_leaf" if policy.sku_level == "simple" else "is_top"
    key, oid, at = order["customer_key"], order["entity_id"], order["created_at"]
    return {(key, line["sku"], oid, line["item_id"], line["effective_qty"], line["amount"], at)
            for line in lines if line[flag] and line["effective_qty"] > 0}


def _earlier(stored: Any, new: Any) -> Any:
    return case((new < stored, new), else_=stored)


def _later(stored: Any, new: Any) -> Any:
    return case((new > stored, new), else_=stored)


# A pair that only gains contributions takes their sums, their new orders and their dates.
GROWTH = {"qty": operator.add, "amount": operator.add, "order_count": operator.add,
          "first_purchase_at": _earlier, "last_purchase_at": _later,
          "updated_at": lambda _stored, new: new}


def update_pairs(session: Session, before: set[Contribution], after: set[Contribution],
                 policy: Policy, now: datetime) -> set[tuple[str, str]]:
    """Bring the pairs from the orders' stored state (`before`, their rows locked) to `after`;
    returns the pairs that changed.

    A pair that lost a contribution (a cancel, a refund, a line or order gone, a customer or
    date changed) is recomputed from the lines (`recompute_pairs`). A pair that only gained
    some (the common case: a new order) is added to in one upsert, stored value + growth
    under the row lock, so no lines are read: it stays the aggregate of the committed lines,
    whatever commits beside it (a recomputation reads them after the lock; an addition
    commits only after its lines).
    """
    removed, added = before - after, after - before
    recompute = {(c[0], c[1]) for c in removed}
    had: dict[tuple[str, str], set[int]] = defaultdict(set)
    for c in before:
        had[(c[0], c[1])].add(c[2])
    grown: dict[tuple[str, str], list[Contribution]] = defaultdict(list)
    for c in added:
        if (c[0], c[1]) not in recompute:
            grown[(c[0], c[1])].append(c)
    rows = [{"customer_key": key, "sku": sku, "qty": sum(c[4] for c in cs),
             "amount": sum(c[5] for c in cs),
             "order_count": len({c[2] for c in cs} - had[(key, sku)]),
             "first_purchase_at": min(c[6] for c in cs),
             "last_purchase_at": max(c[6] for c in cs), "updated_at": now}
            for (key, sku), cs in sorted(grown.items())]
    upsert_merge(session, PAIRS, rows, GROWTH)
    recompute_pairs(session, recompute, policy, now)
    return recompute | set(grown)


def _recompute_statement(session: Session, policy: Policy, part: list[tuple[str, str]],
                         now: datetime):
    """INSERT ... SELECT of the pairs' aggregates, updating the (locked) existing rows."""
    customers = sorted({k for k, _ in part})
    # The single-column IN lets SQLite drive the join from the customer index too.
    found = (aggregate_query(policy)
             .where(tuple_(ORDERS.c.customer_key, LINES.c.sku).in_(part),
                    ORDERS.c.customer_key.in_(customers))
             .subquery("found"))
    stamp = bindparam("now", now, type_=PAIRS.c.updated_at.type)
    source = select(found.c.customer_key, found.c.sku, found.c.qty, found.c.amount,
                    found.c.order_count, found.c.first_at, found.c.last_at, stamp)
    cols = ["customer_key", "sku", *VALUES]
    if dialect_name(session) == "sqlite":
        # WHERE true: SQLite would read ON CONFLICT as the join's ON otherwise.
        stmt = sqlite.insert(PAIRS).from_select(cols, source.where(true()))
        return stmt.on_conflict_do_update(
            index_elements=["customer_key", "sku"],
            set_={c: stmt.excluded[c] for c in VALUES})
    # The derived table's own columns (not VALUES() nor a row alias, which MySQL 8 and
    # MariaDB spell differently); the stamp is set from the same parameter.
    stmt = mysql.insert(PAIRS).from_select(cols, source)
    return stmt.on_duplicate_key_update([
        ("qty", found.c.qty), ("amount", found.c.amount), ("order_count", found.c.order_count),
        ("first_purchase_at", found.c.first_at), ("last_purchase_at", found.c.last_at),
        ("updated_at", stamp)])


def recompute_pairs(
    session: Session, pairs: Iterable[tuple[str, str]], policy: Policy, now: datetime
) -> None:
    """Lock each customer x SKU pair, recompute it from the lines, store it or delete it.

    The lock (an upsert: a new pair is a placeholder row) comes before the recomputation's
    read, so under READ COMMITTED the read sees every line committed by a transaction that
    held the pair before. The lock also sets order_count 0, which no aggregate has: the pairs
    still at 0 after the INSERT ... SELECT have no counted line left and are deleted.
    """
    placeholder = {"qty": 0, "amount": 0, "order_count": 0, "first_purchase_at": now,
                   "last_purchase_at": now, "updated_at": now}
    for part in chunks(sorted(pairs)):
        keys = list(part)
        upsert(session, PAIRS, [{"customer_key": k, "sku": s} | placeholder for k, s in keys],
               update=["order_count"])
        session.execute(_recompute_statement(session, policy, keys, now))
        session.execute(
            delete(PAIRS).where(tuple_(PAIRS.c.customer_key, PAIRS.c.sku).in_(keys),
                                PAIRS.c.customer_key.in_(sorted({k for k, _ in keys})),
                                PAIRS.c.order_count == 0))
