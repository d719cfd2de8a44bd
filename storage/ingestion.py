"""Exact ingestion of order snapshots: the rule of docs/magento.md, applied in one transaction.

For every order the newest snapshot wins. "Newer" compares `(updated_at, progress)`, where
progress = sum(qty_invoiced + qty_canceled + qty_refunded) over the items: those only grow in
Magento, so it orders two saves within Magento's one-second `updated_at`. An older snapshot never
overwrites a newer one; an equal one is applied again, which changes nothing (idempotent).

Each line's effective quantity is `qty_ordered - qty_canceled - qty_refunded`, taken from that
newest snapshot. The snapshot's lines are compared with the order's stored lines (its row
locked): only changed lines are written, and only the customer x SKU pairs where a line's
contribution changed are touched, in the same transaction (storage.pairs): a pair that lost
any contribution is recomputed from the stored lines; one that only gained is added to by
exactly what the snapshot adds over the stored order. A duplicate or an older snapshot differs
from nothing stored, so it cannot double count or resurrect a purchase.

Counting policy (`Policy`, from settings): orders in `uncounted_states` do not count; guests
count under "g:" + a salted HMAC of their lower-cased email, or not at all (`guest_policy=skip`);
`sku_level=simple` counts leaf lines (a configurable's simple child, not its parent; a bundle's
children), `parent` counts top-level lines. A child's canceled/refunded quantities are at least
its parent's (scaled by the child/parent qty ratio), whichever line Magento recorded them on,
and a configurable child with a zero row_total takes its parent's price and row_total.
A line's amount is its row_total (base_row_total, in base currency, when the sender gives it)
scaled by effective_qty / qty_ordered (4 decimals, half up).

An order's `session_id` (the storefront guest session it was placed from: attribution only),
once sent, is kept when a later snapshot omits it (an invoice or refund saved in the admin has
no browser session to send), and an older snapshot arriving late still brings it.

Concurrency: locks are taken in one global order (events, orders, products, interactions; each
sorted by key, except that the pairs a batch adds to come before those it recomputes: two
batches may deadlock there, and are retried). MariaDB runs READ COMMITTED (see
storage.db), with `SELECT ... FOR UPDATE` on the order rows and an upsert lock on each pair
before it is recomputed, so the recomputation sees every committed line, and a pair grows under
its row lock (stored + growth); SQLite serialises writers with BEGIN IMMEDIATE. Deadlocks are
retried.
A worker's batch (`process_batch`) claims its pending events with SKIP LOCKED: it never waits
for events another batch holds, so it joins the order above at the orders.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, bindparam, case, delete, select, tuple_, update
from sqlalchemy.orm import Session

from config import get_settings
from config.settings import Settings
from storage.db import insert_new, run_transaction
from storage.models import Event, Interaction, Order, OrderLine, Product
from storage.pairs import (
    Contribution,
    aggregate_query,
    contributions,
    update_pairs,
)
from storage.snapshot import (
    ORDER_STATES,
    OrderSnapshot,
    ProductInfo,
    SnapshotError,
    SnapshotEvent,
    SnapshotItem,
    event_body,
    parse_event,
)
from storage.upsert import CHUNK, chunks, upsert, upsert_newer

ORDERS = Order.__table__
LINES = OrderLine.__table__
EVENTS = Event.__table__
PAIRS = Interaction.__table__
PRODUCTS = Product.__table__
Outcome = Literal["applied", "stale", "duplicate", "failed", "missing"]
QUANT = Decimal("0.0001")
ZERO = Decimal(0)
T = TypeVar("T")
# Payload bytes in one UPDATE of events: far below MariaDB's max_allowed_packet (16 MiB).
STATEMENT_BYTES = 1 << 20


@dataclass(frozen=True)
class Policy:
    """Which orders, customers and lines count (defaults: the settings' defaults)."""

    uncounted_states: frozenset[str] = frozenset({"pending_payment", "payment_review", "holded"})
    guest_policy: Literal["hash", "skip"] = "hash"
    guest_salt: str = "dmfrec"
    sku_level: Literal["simple", "parent"] = "simple"

    def __post_init__(self) -> None:
        unknown = set(self.uncounted_states) - set(ORDER_STATES)
        if unknown:
            raise ValueError(f"uncounted_states: unknown order states {sorted(unknown)}")
        if self.guest_policy not in ("hash", "skip"):
            raise ValueError(f"guest_policy must be 'hash' or 'skip', not {self.guest_policy!r}")
        if self.sku_level not in ("simple", "parent"):
            raise ValueError(f"sku_level must be 'simple' or 'parent', not {self.sku_level!r}")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Policy:
        s = settings or get_settings()
        return cls(
            uncounted_states=s.uncounted_state_set,
            guest_policy=s.guest_policy,  # type: ignore[arg-type]
            guest_salt=s.guest_salt,
            sku_level=s.sku_level,  # type: ignore[arg-type]
        )


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _q(value: Decimal) -> Decimal:
    return value.quantize(QUANT, rounding=ROUND_HALF_UP)


def guest_key(email: str, salt: str) -> str:
    """The key a guest's lines count under: "g:" + 40 hex digits of HMAC-SHA256(salt, email)."""
    digest = hmac.new(salt.encode(), email.strip().lower().encode(), hashlib.sha256)
    return "g:" + digest.hexdigest()[:40]


def customer_key(order: OrderSnapshot, salt: str) -> tuple[str | None, bool]:
    """(key, guest). A customer deleted in Magento (customer_id NULL) is keyed like a guest."""
    if order.customer_id is not None and not order.customer_is_guest:
        return str(order.customer_id), False
    email = (order.customer_email or "").strip()
    return (guest_key(email, salt) if email else None), True


def _base_total(item: SnapshotItem) -> Decimal:
    """The line's total in base currency when sent (our module does), else as sent."""
    return item.base_row_total if item.base_row_total is not None else item.row_total


def derive_lines(order: OrderSnapshot) -> list[dict[str, Any]]:
    """`order_lines` rows of a snapshot: the raw columns plus effective_qty, amount, flags."""
    by_id = {item.item_id: item for item in order.items}
    parents = {item.parent_item_id for item in order.items if item.parent_item_id is not None}
    rows = []
    for item in order.items:
        canceled, refunded, row_total = item.qty_canceled, item.qty_refunded, _base_total(item)
        parent = by_id.get(item.parent_item_id) if item.parent_item_id is not None else None
        if parent is not None:
            ratio = item.qty_ordered / parent.qty_ordered if parent.qty_ordered else ZERO
            canceled = max(canceled, _q(parent.qty_canceled * ratio))
            refunded = max(refunded, _q(parent.qty_refunded * ratio))
            if parent.product_type == "configurable" and row_total == 0:
                row_total = _q(_base_total(parent) * ratio)
        effective = max(ZERO, item.qty_ordered - canceled - refunded)
        amount = _q(row_total * effective / item.qty_ordered) if item.qty_ordered else ZERO
        rows.append(
            {
                "order_id": order.entity_id,
                "item_id": item.item_id,
                "parent_item_id": item.parent_item_id,
                "product_id": item.product_id,
                "sku": item.sku,
                "name": item.name,
                "product_type": item.product_type,
                "qty_ordered": item.qty_ordered,
                "qty_canceled": item.qty_canceled,
                "qty_refunded": item.qty_refunded,
                "qty_invoiced": item.qty_invoiced,
                "price": item.price,
                "row_total": item.row_total,
                "effective_qty": effective,
                "amount": amount,
                "is_leaf": item.item_id not in parents,
                "is_top": parent is None,
            }
        )
    return rows


def unit_prices(order: OrderSnapshot) -> dict[int, Decimal]:
    """item_id -> unit price; a configurable's child with price 0 takes its parent's."""
    by_id = {i.item_id: i for i in order.items}
    prices = {}
    for item in order.items:
        parent = by_id.get(item.parent_item_id) if item.parent_item_id is not None else None
        configurable_child = parent is not None and parent.product_type == "configurable"
        prices[item.item_id] = parent.price if configurable_child and item.price == 0 \
            else item.price  # type: ignore[union-attr]
    return prices


@dataclass
class _Delivery:
    order: OrderSnapshot
    event_id: str | None = None
    products: Sequence[ProductInfo] = ()
    info_at: datetime | None = None
    stored_key: str | None = None  # a compacted event's recorded customer key (no email left)
    key: tuple[datetime, Decimal] = field(init=False)

    def __post_init__(self) -> None:
        self.key = (self.order.updated_at, self.order.progress)
        self.info_at = self.info_at or self.order.updated_at


def _delivery(item: OrderSnapshot | SnapshotEvent, keys: Mapping[str, str | None]
              ) -> _Delivery:
    if isinstance(item, SnapshotEvent):
        return _Delivery(item.order, item.event_id, item.products, item.occurred_at,
                         keys.get(item.event_id))
    return _Delivery(item)


def _order_row(d: _Delivery, policy: Policy, now: datetime) -> dict[str, Any]:
    o = d.order
    key, guest = customer_key(o, policy.guest_salt)
    if key is None and d.stored_key is not None:
        key = d.stored_key  # a compacted guest event: the key it was applied under
    return {
        "entity_id": o.entity_id,
        "increment_id": o.increment_id,
        "store_id": o.store_id,
        "customer_id": o.customer_id,
        "customer_key": key,
        "guest": guest,
        "state": o.state,
        "status": o.status,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
        "progress": o.progress,
        "currency": o.currency,
        "grand_total": o.grand_total,
        "last_event_id": d.event_id,
        "ingested_at": now,
        "session_id": o.session_id,
    }


def apply_snapshots(
    session: Session,
    items: Sequence[OrderSnapshot | SnapshotEvent],
    policy: Policy | None = None,
    keys: Mapping[str, str | None] | None = None,
    touched: set[str] | None = None,
) -> list[Outcome]:
    """Apply validated snapshots inside the caller's transaction; "applied" or "stale" each.

    Several snapshots of one order may be in `items`: the newest wins, as if applied in turn.
    `keys`: event_id -> the customer key recorded for a compacted event (its email is gone).
    `touched` receives the customers whose pairs were recomputed (before and after a changed
    key): exactly the ones whose lists may have changed.
    """
    policy = policy or Policy.from_settings()
    now = utcnow()
    deliveries = [_delivery(item, keys or {}) for item in items]
    best: dict[int, _Delivery] = {}
    oldest: dict[int, _Delivery] = {}
    sessions: dict[int, tuple[tuple[datetime, Decimal], str]] = {}  # newest sent session
    for d in deliveries:
        oid = d.order.entity_id
        cur = best.get(oid)
        if cur is None or d.key >= cur.key:
            best[oid] = d
        low = oldest.get(oid)
        if low is None or d.key < low.key:
            oldest[oid] = d
        if d.order.session_id and (oid not in sessions or d.key >= sessions[oid][0]):
            sessions[oid] = (d.key, d.order.session_id)
    ids = sorted(best)
    winners = [best[i] for i in ids]
    # Lock every order row, then compare with what is stored. An order never seen is created
    # from its oldest snapshot here (its winner overwrites it below), so that each snapshot's
    # outcome is what applying them in turn would give (see the end).
    upsert(session, ORDERS, [_order_row(oldest[i], policy, now) for i in ids], update=[])
    stored = {}
    for part in chunks(ids):
        q = (
            select(ORDERS.c.entity_id, ORDERS.c.updated_at, ORDERS.c.progress,
                   ORDERS.c.customer_key, ORDERS.c.session_id, ORDERS.c.state,
                   ORDERS.c.guest, ORDERS.c.created_at)
            .where(ORDERS.c.entity_id.in_(part))
            .order_by(ORDERS.c.entity_id)
            .with_for_update()
        )
        stored.update({r.entity_id: r for r in session.execute(q)})
    fresh = [d for d in winners if d.key >= (stored[d.order.entity_id].updated_at,
                                              stored[d.order.entity_id].progress)]
    fresh_ids = [d.order.entity_id for d in fresh]
    # An older snapshot arriving late still names the session the order was placed from.
    applied_now = set(fresh_ids)
    late = [{"o": oid, "s": sessions[oid][1]} for oid in ids
            if oid in sessions and oid not in applied_now and stored[oid].session_id is None]
    if late:
        session.execute(update(ORDERS).where(ORDERS.c.entity_id == bindparam("o"))
                        .values(session_id=bindparam("s")), late)

    # What is stored of the orders to apply: written again only where a line changed, and
    # a pair recomputed only where a line's contribution to it changed.
    old_lines: dict[int, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for part in chunks(fresh_ids):
        for r in session.execute(select(LINES).where(LINES.c.order_id.in_(part))):
            old_lines[r.order_id][r.item_id] = r._mapping

    order_rows = [_order_row(d, policy, now) for d in fresh]
    for row in order_rows:  # the session an order was placed from never changes: keep it
        if row["session_id"] is None:
            oid = row["entity_id"]
            row["session_id"] = sessions[oid][1] if oid in sessions else stored[oid].session_id
    line_rows = [row for d in fresh for row in derive_lines(d.order)]
    new_lines: dict[int, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for row in line_rows:
        new_lines[row["order_id"]][row["item_id"]] = row
    upsert(session, ORDERS, order_rows)
    upsert(session, LINES, [row for row in line_rows
                            if _line_changed(old_lines[row["order_id"]].get(row["item_id"]), row)])
    gone = [(oid, iid) for oid, lines in old_lines.items()
            for iid in sorted(set(lines) - set(new_lines[oid]))]
    for part in chunks(gone):
        session.execute(delete(LINES).where(
            tuple_(LINES.c.order_id, LINES.c.item_id).in_(part),
            LINES.c.order_id.in_(sorted({oid for oid, _ in part}))))
    before: set[Contribution] = set()
    after: set[Contribution] = set()
    for row in order_rows:
        oid = row["entity_id"]
        before |= contributions(stored[oid]._mapping, old_lines[oid].values(), policy)
        after |= contributions(row, new_lines[oid].values(), policy)

    pairs = update_pairs(session, before, after, policy, now)
    # Last: the SKUs' rows are the ones concurrent batches share most (a popular SKU is in
    # nearly every batch), so they are locked as late as possible; only the marking of the
    # batch's own events follows before the commit (issue 17: the replay's workers waited
    # on each other there).
    _learn_products(session, deliveries, fresh, line_rows, policy, now)
    if touched is not None:
        touched.update(k for k, _ in pairs)
    # In turn: a snapshot is applied if not older than the stored one nor than any before it.
    newest = {i: (r.updated_at, r.progress) for i, r in stored.items()}
    applied = set(fresh_ids)
    outcomes: list[Outcome] = []
    for d in deliveries:
        oid = d.order.entity_id
        if oid in applied and d.key >= newest[oid]:
            newest[oid] = d.key
            outcomes.append("applied")
        else:
            outcomes.append("stale")
    return outcomes


def _line_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether a derived line differs from its stored row (None: not stored yet)."""
    return old is None or any(old[c] != v for c, v in new.items())


def _learn_products(
    session: Session,
    deliveries: Sequence[_Delivery],
    fresh: Sequence[_Delivery],
    line_rows: Sequence[Mapping[str, Any]],
    policy: Policy,
    now: datetime,
) -> None:
    """Name/price from the lines of applied snapshots, catalogue info from every event."""
    infos: list[tuple[datetime, str, dict[str, Any]]] = []
    by_order = {d.order.entity_id: (d, unit_prices(d.order)) for d in fresh}
    flag = "is_leaf" if policy.sku_level == "simple" else "is_top"
    for row in line_rows:
        if row[flag]:
            d, prices = by_order[row["order_id"]]
            fields = {"name": row["name"], "price": prices[row["item_id"]],
                      "currency": d.order.currency}
            infos.append((d.info_at, row["sku"], fields))
    for d in deliveries:
        for p in d.products:
            fields = p.model_dump(exclude={"sku"}, exclude_none=True)
            infos.append((d.info_at, p.sku, fields))
    merged: dict[str, dict[str, Any]] = {}
    for at, sku, fields in sorted(infos, key=lambda t: t[0]):
        row = merged.setdefault(sku, {"sku": sku})
        row.update({k: v for k, v in fields.items() if v is not None})
        row["info_at"] = at
    cols = ("name", "price", "currency", "url", "enabled", "in_stock")
    rows = [
        {c: row.get(c) for c in cols} | {"sku": sku, "info_at": row["info_at"], "updated_at": now}
        for sku, row in sorted(merged.items())
    ]
    upsert_newer(session, PRODUCTS, rows, stamp="info_at", fields=cols, always=("updated_at",))


def _pair_row(r: Any, now: datetime) -> dict[str, Any]:
    return {
        "customer_key": r.customer_key,
        "sku": r.sku,
        "qty": r.qty,
        "amount": r.amount,
        "order_count": r.order_count,
        "first_purchase_at": r.first_at,
        "last_purchase_at": r.last_at,
        "updated_at": now,
    }


def rebuild_interactions(engine_or_url: Engine | str | None, policy: Policy | None = None) -> int:
    """Recompute the whole interactions table (after a policy change); returns its row count."""
    policy = policy or Policy.from_settings()

    def work(session: Session) -> int:
        now = utcnow()
        session.execute(delete(PAIRS))
        rows = [_pair_row(r, now) for r in session.execute(aggregate_query(policy))]
        upsert(session, PAIRS, rows)
        return len(rows)

    return run_transaction(engine_or_url, work)


# --- events: receive (webhook), process (worker), ingest (both at once) -----------------------


def _body(raw: bytes | str | Mapping[str, Any] | SnapshotEvent, event: SnapshotEvent) -> str:
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SnapshotError([("", f"body is not UTF-8: {exc}")]) from None
    return raw if isinstance(raw, str) else event_body(event)


def _event_row(event: SnapshotEvent, body: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "order_id": event.order.entity_id,
        "order_updated_at": event.order.updated_at,
        "received_at": now,
        "processed_at": None,
        "status": "pending",
        "error": None,
        "payload": body,
    }


def _lock_events(session: Session, event_ids: Sequence[str]) -> dict[str, Any]:
    found = {}
    for part in chunks(sorted(set(event_ids))):
        q = (
            select(EVENTS.c.event_id, EVENTS.c.status, EVENTS.c.payload)
            .where(EVENTS.c.event_id.in_(part))
            .order_by(EVENTS.c.event_id)
            .with_for_update()
        )
        found.update({r.event_id: r for r in session.execute(q)})
    return found


def _mark(session: Session, statuses: Mapping[str, str], errors: Mapping[str, str], now) -> None:
    by_status: dict[str, list[str]] = defaultdict(list)
    for eid, st in statuses.items():
        by_status[st].append(eid)
    for st, eids in by_status.items():
        for part in chunks(sorted(eids)):
            session.execute(
                update(EVENTS)
                .where(EVENTS.c.event_id.in_(part))
                .values(status=st, processed_at=now)
            )
    for eid, err in errors.items():
        session.execute(update(EVENTS).where(EVENTS.c.event_id == eid).values(error=err))


def _apply_pending(
    session: Session, events: Sequence[SnapshotEvent], policy: Policy,
    touched: set[str] | None = None,
) -> dict[str, Outcome]:
    if not events:
        return {}
    outcomes = apply_snapshots(session, events, policy, touched=touched)
    result: dict[str, Outcome] = dict(zip([e.event_id for e in events], outcomes, strict=True))
    _mark_compact(session, events, result, policy, utcnow())
    return result


def compact_body(event: SnapshotEvent) -> str:
    """What an applied event keeps: only the fields ingestion reads, never the email (nor
    the addresses, names and other extras a raw body may carry: the schema drops them), and
    no field at its default (zero quantities, `simple`): parsing restores those."""
    data = event.model_dump(mode="json", exclude_none=True, exclude_defaults=True,
                            exclude={"order": {"customer_email"}})
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _mark_compact(session: Session, events: Sequence[SnapshotEvent],
                  outcomes: Mapping[str, Outcome], policy: Policy, now: datetime) -> None:
    """Mark applied/stale events processed, with their compact payload and customer key:
    one UPDATE per part of the batch (CASE on the event id), not one per event."""
    rows = [(e.event_id, outcomes[e.event_id], compact_body(e),
             customer_key(e.order, policy.guest_salt)[0])
            for e in sorted(events, key=lambda e: e.event_id)]
    by = EVENTS.c.event_id
    for part in _parts_by_size(rows, lambda row: len(row[2])):
        session.execute(
            update(EVENTS).where(by.in_([r[0] for r in part]))
            .values(status=case({r[0]: r[1] for r in part}, value=by),
                    payload=case({r[0]: r[2] for r in part}, value=by),
                    customer_key=case({r[0]: r[3] for r in part}, value=by),
                    processed_at=now))


def _parts_by_size(rows: Sequence[T], size: Callable[[T], int],
                   limit: int = STATEMENT_BYTES) -> Iterator[Sequence[T]]:
    """`chunks` that also end once their rows' sizes reach `limit`."""
    start, total = 0, 0
    for k, row in enumerate(rows):
        total += size(row)
        if total >= limit or k + 1 - start >= CHUNK:
            yield rows[start:k + 1]
            start, total = k + 1, 0
    if start < len(rows):
        yield rows[start:]


def ingest(
    engine_or_url: Engine | str | None,
    raws: Iterable[bytes | str | Mapping[str, Any] | SnapshotEvent],
    policy: Policy | None = None,
) -> dict[str, Outcome]:
    """Record and apply events in one transaction: event_id -> applied/stale/duplicate.

    Every event is validated first: one invalid event raises `SnapshotError` (naming its
    index and field) and nothing is written. An event_id seen before is not applied again.
    """
    policy = policy or Policy.from_settings()
    parsed: dict[str, tuple[SnapshotEvent, str]] = {}
    for k, raw in enumerate(raws):
        try:
            event = parse_event(raw)
            parsed.setdefault(event.event_id, (event, _body(raw, event)))
        except SnapshotError as exc:
            raise SnapshotError([(f"[{k}].{loc}" if loc else f"[{k}]", msg)
                                 for loc, msg in exc.errors]) from None

    def work(session: Session) -> dict[str, Outcome]:
        now = utcnow()
        rows = [_event_row(e, body, now) for _, (e, body) in sorted(parsed.items())]
        upsert(session, EVENTS, rows, update=[], conflict=["event_id"])
        locked = _lock_events(session, list(parsed))
        # In delivery order: among equal keys the later delivery wins.
        pending = [e for eid, (e, _) in parsed.items() if locked[eid].status == "pending"]
        result: dict[str, Outcome] = dict.fromkeys(parsed, "duplicate")
        result.update(_apply_pending(session, pending, policy))
        return result

    return run_transaction(engine_or_url, work)


def receive(
    engine_or_url: Engine | str | None, raw: bytes | str | Mapping[str, Any] | SnapshotEvent
) -> tuple[SnapshotEvent, bool]:
    """Validate and store an event as pending (the webhook's fast path): (event, is_new).

    One INSERT committed on its own (`storage.db.insert_new`; one round trip on the webhook's
    autocommit engine), no SELECT first: the unique event_id index refuses a known event, which
    answers is_new False and leaves the stored one exactly as it was. Raises `SnapshotError`
    on invalid input.
    """
    event = parse_event(raw)
    body = _body(raw, event)
    return event, insert_new(engine_or_url, EVENTS, _event_row(event, body, utcnow()))


def process(
    engine_or_url: Engine | str | None,
    event_ids: Iterable[str],
    policy: Policy | None = None,
) -> dict[str, Outcome]:
    """Apply stored pending events (the worker's task): event_id -> outcome.

    Events already processed answer "duplicate", unknown ids "missing"; a stored payload that
    no longer validates is marked "failed" with its error (the others still apply).
    """
    policy = policy or Policy.from_settings()
    wanted = sorted(set(event_ids))

    def work(session: Session) -> dict[str, Outcome]:
        locked = _lock_events(session, wanted)
        result: dict[str, Outcome] = {
            eid: ("missing" if eid not in locked else "duplicate") for eid in wanted
        }
        result.update(_process_locked(session, wanted, locked, policy, set()))
        return result

    return run_transaction(engine_or_url, work)


def _process_locked(session: Session, ids: Sequence[str], locked: Mapping[str, Any],
                    policy: Policy, touched: set[str]) -> dict[str, Outcome]:
    """Apply the pending ones among `ids` (rows locked by the caller); invalid payloads end
    "failed" with their error. Outcomes of those only; `touched` as in `apply_snapshots`."""
    events, errors = [], {}
    for eid in ids:
        if eid in locked and locked[eid].status == "pending":
            try:
                events.append(parse_event(locked[eid].payload))
            except SnapshotError as exc:
                errors[eid] = str(exc)
    result = _apply_pending(session, events, policy, touched)
    if errors:
        _mark(session, dict.fromkeys(errors, "failed"), errors, utcnow())
        result.update(dict.fromkeys(errors, "failed"))
    return result


@dataclass
class Batch:
    """What `process_batch` did: each claimed event's outcome, its order and receipt time,
    and the customers whose pairs were recomputed (to refresh once each)."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    received: dict[str, datetime] = field(default_factory=dict)
    customers: set[str] = field(default_factory=set)


def _claim(session: Session, first: str | None, limit: int) -> dict[str, Any]:
    """Lock up to `limit` pending events never failed before: `first` if it is one, then the
    oldest others. SKIP LOCKED on MariaDB: events another batch holds are left to it, and the
    claim never waits (so it cannot join a deadlock with that batch's later locks); SQLite's
    writers are serialised anyway and ignore FOR UPDATE."""
    cols = (EVENTS.c.id, EVENTS.c.event_id, EVENTS.c.status, EVENTS.c.payload,
            EVENTS.c.order_id, EVENTS.c.received_at)
    claimable = (EVENTS.c.status == "pending") & (EVENTS.c.attempts == 0)
    rows = []
    if first is not None and limit > 0:
        rows += session.execute(select(*cols).where(claimable, EVENTS.c.event_id == first)
                                .with_for_update(skip_locked=True)).all()
    if limit > len(rows):
        q = (select(*cols).where(claimable)
             .order_by(EVENTS.c.received_at, EVENTS.c.id).limit(limit - len(rows))
             .with_for_update(skip_locked=True))
        if first is not None:
            q = q.where(EVENTS.c.event_id != first)
        rows += session.execute(q).all()
    # In the order they were received: among equal snapshot keys the later delivery wins.
    return {r.event_id: r for r in sorted(rows, key=lambda r: (r.received_at, r.id))}


def process_batch(
    engine_or_url: Engine | str | None,
    first: str | None,
    limit: int,
    policy: Policy | None = None,
    into: Batch | None = None,
) -> Batch:
    """Claim up to `limit` pending events (`first` among them when it is free) and apply them
    in one transaction, as `process` would one by one: the newest snapshot of each order wins
    whatever the order of the events, and every touched pair is recomputed once.

    Events that failed before (attempts > 0) are never claimed: they go alone through
    `process`, so one bad event cannot fail every batch it would join. `into` is filled as
    the work goes: should it raise, the caller still knows which events were claimed.
    """
    policy = policy or Policy.from_settings()
    batch = into if into is not None else Batch()

    def work(session: Session) -> Batch:
        batch.outcomes, batch.customers, batch.orders, batch.received = {}, set(), {}, {}
        locked = _claim(session, first, limit)
        batch.orders = {e: r.order_id for e, r in locked.items()}
        batch.received = {e: r.received_at for e, r in locked.items()}
        batch.outcomes = _process_locked(session, list(locked), locked, policy,
                                         batch.customers)
        return batch

    return run_transaction(engine_or_url, work)


def pending_event_ids(
    engine_or_url: Engine | str | None, older_than_s: float = 0, limit: int = 1000,
    after: tuple[datetime, int] | None = None,
) -> list[str]:
    """Ids of events still pending after `older_than_s` seconds, oldest first (to re-enqueue)."""
    return [r[0] for r in pending_page(engine_or_url, older_than_s, limit, after)]


def pending_page(
    engine_or_url: Engine | str | None, older_than_s: float = 0, limit: int = 1000,
    after: tuple[datetime, int] | None = None, *, retried_only: bool = False,
) -> list[tuple[str, datetime, int]]:
    """(event_id, received_at, id) of pending events older than `older_than_s`, oldest first,
    starting after the `(received_at, id)` cursor `after`: the sweep pages through every pending
    event, so old ones it cannot send never hide a newer lost one. `retried_only`: only those
    that failed before (attempts > 0), which no batch claims."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    q = (
        select(EVENTS.c.event_id, EVENTS.c.received_at, EVENTS.c.id)
        .where(EVENTS.c.status == "pending", EVENTS.c.received_at <= cutoff)
        .order_by(EVENTS.c.received_at, EVENTS.c.id)
        .limit(limit)
    )
    if retried_only:
        q = q.where(EVENTS.c.attempts > 0)
    if after is not None:
        at, last_id = after
        q = q.where((EVENTS.c.received_at > at)
                    | ((EVENTS.c.received_at == at) & (EVENTS.c.id > last_id)))

    def work(session: Session) -> list[tuple[str, datetime, int]]:
        return [tuple(r) for r in session.execute(q)]

    return run_transaction(engine_or_url, work)


def replay(
    engine_or_url: Engine | str | None, policy: Policy | None = None, batch: int = 500
) -> int:
    """Apply every stored applied/stale payload again, oldest first; returns how many.

    Applied events are kept compact, without the email: a guest's order keeps the key it was
    applied under, so a new GUEST_SALT does not re-key guests whose events were compacted
    (import the orders again with `dmfrec import magento` for that). Orders that came only
    through `dmfrec import magento` are not events: import them again too.
    """
    policy = policy or Policy.from_settings()
    last, done = 0, 0
    while True:
        q = (
            select(EVENTS.c.id, EVENTS.c.event_id, EVENTS.c.payload, EVENTS.c.customer_key)
            .where(EVENTS.c.id > last, EVENTS.c.status.in_(("applied", "stale")))
            .order_by(EVENTS.c.id)
            .limit(batch)
        )
        rows = run_transaction(engine_or_url, lambda s, q=q: s.execute(q).all())
        if not rows:
            return done
        events = [parse_event(r.payload) for r in rows]
        keys = {r.event_id: r.customer_key for r in rows}
        run_transaction(engine_or_url,
                        lambda s, ev=events, k=keys: apply_snapshots(s, ev, policy, k))
        last, done = rows[-1].id, done + len(rows)
