"""The live loop's work, as plain functions of a `Runtime` (the Celery tasks are thin wrappers).

`process_event`: apply a recorded event with storage's exact ingestion (which marks it applied,
stale or failed), together with up to DMFREC_INGEST_BATCH - 1 other pending events in the same
transaction (storage.ingestion.process_batch), then refresh each customer they touched once:
their bought-SKU set and, when a model version is active, their top-N, by folding their new
purchase row into the active model (no training). Every step is idempotent, so a redelivered
task or a repeated event changes nothing. Once a batch's customers are refreshed its applied
and stale events are marked so in Redis (worker.events), and the tasks of those events are then
no-ops that read nothing but that mark; a
duplicate without that mark (its batch's refresh failed half-way) still refreshes, which
repairs it. A task whose event another task's batch holds or has just applied leaves it to
that task and looks again a little later (`defer`: worker.tasks), rather than waiting for
that batch's locks and refreshing the same customers twice. An event whose application
fails for another reason than an outage is counted
(storage.failures) and ends `failed` at DMFREC_EVENT_MAX_ATTEMPTS; outages propagate, for the
task to retry.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import numpy as np
import redis as redis_lib
import scipy.sparse as sp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import failures, ingestion
from storage.db import is_outage
from storage.models import Event, Interaction, Order, Product
from worker import attribution, backlog, events, metrics, publish
from worker.runtime import LoadedModel, Runtime

log = logging.getLogger("dmfrec.worker")
REFRESH_OUTCOMES = ("applied", "duplicate")
MARKED_OUTCOMES = ("applied", "stale")  # never pending again: their tasks skip the database


def process_event(rt: Runtime, event_id: str,
                  defer: Callable[[str], bool] | None = None,
                  resume: Callable[[], bool] | None = None) -> dict:
    """Ingest a recorded event, with up to DMFREC_INGEST_BATCH - 1 other pending events in the
    same transaction, then refresh every affected customer once; with `resume`, then `drain`
    what else is pending. Returns a small summary (`applied`: how many events this call
    applied, its own, its batch's and the drained ones).

    A drain clears the web service's wake flag first (worker.events): events recorded from
    then on are sent again, and those recorded before, whose sends the flag may have skipped,
    are pending when the drain looks.

    An event another task's batch holds (claimed while this one claimed, so SKIP LOCKED passed
    it by) is that task's to apply and refresh: with `defer` (the Celery task's "look again
    later", True once sent) this call neither waits for that batch's locks nor refreshes the
    customers again, and ends `held`; the later look finds the event marked refreshed (a
    no-op), or repairs what that batch left undone (its refresh failed, or it rolled back).
    Without `defer`, or when it cannot send, the call waits for that batch and refreshes
    itself, as before.

    `resume` (the Celery task's; see `drain`) makes it a drain: without it, this call neither
    clears the flag nor drains (one event and its batch, as a direct caller expects)."""
    if resume is not None:
        events.woken(rt.redis)
    if events.was_refreshed(rt.redis, event_id):
        # Applied (or stale) in another task's batch, which refreshed its customers: nothing
        # left to do for it, and no database read. Only applied and stale events are marked,
        # and those never become pending again.
        metrics.EVENTS_PROCESSED.labels("duplicate").inc()
        summary = {"event_id": event_id, "outcome": "duplicate", "customers": [], "applied": 0}
    else:
        summary = _own_event(rt, event_id, defer)
    if resume is not None:
        summary["applied"] += drain(rt, resume)
    return summary


def _own_event(rt: Runtime, event_id: str, defer: Callable[[str], bool] | None) -> dict:
    """`process_event` for its own event and the batch that claims it."""
    # The batch claims this event first when it is pending and free; its row is read only
    # when it was not claimed (one transaction fewer for most tasks that do work).
    batch = _apply_batch(rt, event_id)
    outcomes = dict(batch.outcomes)
    customers = set(batch.customers)
    orders, received, status = dict(batch.orders), dict(batch.received), None
    if event_id not in outcomes:
        with rt.reading() as session:
            row = session.execute(
                select(Event.order_id, Event.received_at, Event.status, Event.attempts)
                .where(Event.event_id == event_id)
            ).first()
        if row is None:
            log.warning("event not found; nothing to do")
            outcomes[event_id] = "missing"
        else:
            orders[event_id], received[event_id], status = (row.order_id, row.received_at,
                                                            row.status)
            # Not claimed: held by another batch, or applied by one and not marked refreshed
            # yet (that batch's task refreshes and marks it), or failed before (applied
            # alone, so its failure is counted on it alone), or applied long ago and never
            # refreshed (repaired here).
            others = row.status in MARKED_OUTCOMES or (row.status == "pending"
                                                       and row.attempts == 0)
            if defer is not None and others and defer(event_id):
                outcomes[event_id] = "held"
            else:
                outcomes[event_id], own = _process_alone(rt, event_id)
                customers.update(own)
    log.info("event processed", extra={"outcome": outcomes[event_id], "batch": len(outcomes)})
    repaired = status in MARKED_OUTCOMES and outcomes[event_id] != "held"
    _settle(rt, outcomes, customers, orders, received, [event_id] * repaired)
    return {"event_id": event_id, "outcome": outcomes[event_id],
            "customers": sorted(customers),
            "applied": sum(o == "applied" for o in outcomes.values())}


def _settle(rt: Runtime, outcomes: dict[str, str], customers: set[str], orders: dict[str, int],
            received: dict[str, datetime], also_marked: list[str]) -> None:
    """After a batch: refresh its customers, credit its orders, mark its events refreshed."""
    refreshed = [e for e, o in outcomes.items() if o in REFRESH_OUTCOMES]
    if refreshed:
        started = time.perf_counter()
        refresh_customers(rt, customers)
        refresh_popular(rt)
        metrics.FOLD_IN_SECONDS.observe(time.perf_counter() - started)
    # issue 18: credit recommendation clicks; a stale event counts nothing, but may bring
    # the order's session. After the lists (issue 17: the storefront waits for those, the
    # analytics do not); both before the events are marked refreshed, so a failure of
    # either is retried.
    credited = {orders[e] for e, o in outcomes.items()
                if o in (*REFRESH_OUTCOMES, "stale") and e in orders}
    if credited:
        attribution.refresh_orders(rt, credited)
    # Events applied or stale (here, or before and refreshed now): their tasks are no-ops
    # now. Not failed ones: an operator may send them back to pending.
    done = [e for e, o in outcomes.items() if o in MARKED_OUTCOMES]
    events.mark_refreshed(rt.redis, done + also_marked)
    now = ingestion.utcnow()
    for eid, outcome in outcomes.items():
        at = received.get(eid)
        if outcome == "applied" and at is not None:
            lag = now - at.replace(tzinfo=None)
            metrics.EVENT_LAG_SECONDS.observe(max(lag.total_seconds(), 0.0))
        metrics.EVENTS_PROCESSED.labels(outcome).inc()


DRAIN_BUDGET_S = 5.0  # a task drains this long, then hands the rest to a new task (`resume`)


def drain(rt: Runtime, resume: Callable[[], bool] | None = None) -> int:
    """Claim, apply and settle batches of pending events until a claim finds none; returns
    how many were applied. With `resume` (the Celery task's "send a drain task", True once
    sent) it stops after DRAIN_BUDGET_S and leaves the rest to that task, so a worker is
    never held by one task for long (a warm shutdown waits for it)."""
    applied, started = 0, time.monotonic()
    while True:
        if resume is not None and time.monotonic() - started > DRAIN_BUDGET_S and resume():
            return applied
        batch = _apply_batch(rt, None)
        if not batch.outcomes:
            return applied
        _settle(rt, batch.outcomes, batch.customers, batch.orders, batch.received, [])
        applied += sum(o == "applied" for o in batch.outcomes.values())


def drain_pending(rt: Runtime, resume: Callable[[], bool] | None = None) -> int:
    """A drain task: clear the wake flag (worker.events), then `drain`."""
    events.woken(rt.redis)
    return drain(rt, resume)


def _apply_batch(rt: Runtime, event_id: str) -> ingestion.Batch:
    """Claim and apply a batch (storage.ingestion.process_batch). Should it fail for another
    reason than an outage, each claimed event is tried alone, so only a bad one is counted."""
    batch = ingestion.Batch()
    started = time.perf_counter()
    try:
        ingestion.process_batch(rt.engine, event_id, rt.settings.ingest_batch, rt.policy,
                                into=batch)
    except Exception as exc:
        if is_outage(exc) or isinstance(exc, MemoryError):
            raise  # the task retries an outage; no event is at fault
        log.warning("batch failed; its events are applied one by one",
                    extra={"batch": len(batch.orders), "error": f"{type(exc).__name__}: {exc}"})
        alone = ingestion.Batch()
        for eid in batch.orders:
            alone.outcomes[eid], own = _process_alone(rt, eid)
            alone.customers.update(own)
        alone.orders, alone.received = batch.orders, batch.received
        return alone
    if batch.outcomes:
        metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch.outcomes))
    return batch


def _process_alone(rt: Runtime, event_id: str) -> tuple[str, set[str]]:
    """Apply one event in its own transaction: (outcome, customers to refresh). A failure
    that is not an outage is counted on the event (storage.failures)."""
    with rt.reading() as session:
        # The order's customer before this event: a changed customer (deleted in Magento,
        # now keyed as a guest) loses the purchases, so both are refreshed.
        before = session.scalar(select(Order.customer_key).join(
            Event, Event.order_id == Order.entity_id).where(Event.event_id == event_id))
    started = time.perf_counter()
    try:
        outcome = ingestion.process(rt.engine, [event_id], rt.policy)[event_id]
        if outcome not in ("duplicate", "missing"):  # it did apply (or refuse) the event
            metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_SIZE.observe(1)
    except Exception as exc:
        if is_outage(exc) or isinstance(exc, MemoryError):
            raise  # the task retries an outage; the event is not at fault
        # Bad data or a bug: the same failure every time. Counted; failed at the limit.
        error = f"{type(exc).__name__}: {exc}"
        outcome = failures.note_failure(rt.engine, event_id, error,
                                        rt.settings.event_max_attempts)
        log.warning("event failed to apply", extra={"event_id": event_id, "outcome": outcome,
                                                    "error": error[:500]})
        return outcome, set()
    if outcome not in REFRESH_OUTCOMES:
        return outcome, set()
    with rt.reading() as session:  # the key the event was applied under
        after = session.scalar(select(Event.customer_key).where(Event.event_id == event_id))
    return outcome, {k for k in (before, after) if k is not None}


# ---------------------------------------------------------------- customers


def customer_rows(session: Session, customer_ids: Iterable[str], since: datetime | None = None
                  ) -> dict[str, dict[str, tuple]]:
    """customer -> {sku: (qty, amount)} over the live interactions (effective qty > 0);
    with `since`, only SKUs bought again since then."""
    return rows_and_recent(session, customer_ids, since)[1]


def rows_and_recent(session: Session, customer_ids: Iterable[str], since: datetime | None
                    ) -> tuple[dict[str, dict[str, tuple]], dict[str, dict[str, tuple]]]:
    """`customer_rows` without and with `since`, from one read of the customers' pairs."""
    ids = [str(c) for c in customer_ids]
    rows: dict[str, dict[str, tuple]] = {c: {} for c in ids}
    recent: dict[str, dict[str, tuple]] = {c: {} for c in ids}
    if not ids:
        return rows, recent
    query = (select(Interaction.customer_key, Interaction.sku, Interaction.qty, Interaction.amount,
                    Interaction.last_purchase_at)
             .where(Interaction.customer_key.in_(ids), Interaction.qty > 0))
    for customer, sku, qty, amount, last in session.execute(query):
        value = (float(qty), float(amount or 0.0))
        rows[str(customer)][str(sku)] = value
        if since is None or last >= since:
            recent[str(customer)][str(sku)] = value
    return rows, recent


def bought_skus(session: Session, customer_ids: Iterable[str]) -> dict[str, dict[str, None]]:
    """customer -> {sku: None} over the live interactions (the keys of `customer_rows`)."""
    bought: dict[str, dict[str, None]] = {str(c): {} for c in customer_ids}
    if bought:
        for customer, sku in session.execute(
                select(Interaction.customer_key, Interaction.sku)
                .where(Interaction.customer_key.in_(list(bought)), Interaction.qty > 0)):
            bought[str(customer)][str(sku)] = None
    return bought


def interaction_value(scheme: str, qty: float, amount: float) -> float:
    """The matrix value of one (customer, SKU) cell, as model.interactions computes it."""
    if scheme == "binary":
        return 1.0
    if scheme == "quantity":
        return qty
    if scheme == "log1p":
        return math.log1p(qty)
    return max(amount, 0.0)


def row_columns(loaded: LoadedModel, row: dict[str, tuple], scheme: str
                ) -> tuple[list[int], list[float]]:
    """(model columns, values) of a customer's purchases `row`; SKUs the model has never
    seen are left out: they have no weights yet."""
    cols, vals = [], []
    for sku, (qty, amount) in row.items():
        k = loaded.sku_index.get(sku)
        if k is not None:
            cols.append(k)
            vals.append(interaction_value(scheme, qty, amount))
    return cols, vals


def fold_in_pairs(loaded: LoadedModel, row: dict[str, tuple], scheme: str, n: int
                  ) -> list[tuple[str, float]]:
    """Top-n SKUs for a customer whose purchases are `row`, folded into the model (no training).

    SKUs the model has never seen are left out of the row: they have no weights yet.
    """
    cols, vals = row_columns(loaded, row, scheme)
    if not cols:
        return []
    vector = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (np.zeros(len(cols), dtype=np.int64), cols)),
        shape=(1, len(loaded.skus)),
    )
    _, items, scores = loaded.model.fold_in(vector, n)
    return [(loaded.skus[int(i)], float(s))
            for i, s in zip(items, scores, strict=True) if np.isfinite(s)]


def refresh_customers(rt: Runtime, customer_ids: Iterable[str]) -> int:
    """Rewrite the bought sets and (with an active model) the lists of these customers."""
    ids = sorted({str(c) for c in customer_ids})
    if not ids:
        return 0
    # Everything bought is excluded; the model sees what it was trained on: the window's SKUs.
    days = rt.settings.window_days
    since = ingestion.utcnow() - timedelta(days=days) if days > 0 else None
    loaded = rt.active_model()
    with rt.reading() as session:
        if loaded is None:  # no fold-in: the bought SKUs are all it needs
            rows, recent = bought_skus(session, ids), {}
        else:
            rows, recent = rows_and_recent(session, ids, since)
    ttl = days * 86400 if days > 0 else None  # bought sets expire with the window
    metrics.CUSTOMERS_REFRESHED.inc(len(ids))
    publish.set_bought_many(rt.redis, {c: row.keys() for c, row in rows.items()}, ttl)
    if loaded is None:
        return 0
    return publish.publish_users_if_active(rt.redis, loaded.version,
                                           fold_in_lists(rt, loaded, recent))


def window_rows(rt: Runtime, customer_ids: Iterable[str]) -> dict[str, dict[str, tuple]]:
    """Each customer's purchases inside the training window: the rows fold-ins use."""
    days = rt.settings.window_days
    since = ingestion.utcnow() - timedelta(days=days) if days > 0 else None
    with rt.reading() as session:
        return customer_rows(session, customer_ids, since)


FOLD_IN_BLOCK = 64  # customers folded in by one pass of the towers (memory ~ block x SKUs)


def fold_in_lists(rt: Runtime, loaded: LoadedModel, rows: dict[str, dict[str, tuple]]
                  ) -> dict[str, list[tuple[str, float]]]:
    """customer -> the list a fold-in of `rows` gives (what the live loop publishes): each
    customer's `fold_in_pairs`, the towers run once per block of customers."""
    scheme, n = rt.settings.value_scheme, rt.settings.publish_n
    lists: dict[str, list[tuple[str, float]]] = {}
    known: list[tuple[str, list[int], list[float]]] = []
    for customer, row in rows.items():
        cols, vals = row_columns(loaded, row, scheme)
        lists[customer] = []  # SKUs the model never saw only: nothing to fold in
        if cols:
            known.append((customer, cols, vals))
    for lo in range(0, len(known), FOLD_IN_BLOCK):
        block = known[lo:lo + FOLD_IN_BLOCK]
        indptr = np.cumsum([0] + [len(cols) for _, cols, _ in block])
        matrix = sp.csr_matrix(
            (np.asarray([v for _, _, vals in block for v in vals], dtype=np.float32),
             np.asarray([c for _, cols, _ in block for c in cols], dtype=np.int64), indptr),
            shape=(len(block), len(loaded.skus)))
        matrix.sum_duplicates()
        for (customer, _, _), (items, scores) in zip(
                block, loaded.model.fold_in_many(matrix, n), strict=True):
            lists[customer] = [(loaded.skus[int(i)], float(s))
                               for i, s in zip(items, scores, strict=True) if np.isfinite(s)]
    return lists


def refresh_since(rt: Runtime, since: datetime, chunk: int = 500) -> int:
    """Refresh every customer with an order applied since `since` (bought set and fold-in
    from today's rows): after a publish, the lists of customers who bought while the model
    trained (or since it trained, after Redis lost its data) follow their purchases.
    Returns how many customers were refreshed."""
    with rt.reading() as session:
        ids = sorted(session.scalars(
            select(Order.customer_key).distinct()
            .where(Order.ingested_at >= since, Order.customer_key.is_not(None))))
    for lo in range(0, len(ids), chunk):
        refresh_customers(rt, ids[lo:lo + chunk])
    return len(ids)


# ---------------------------------------------------------------- shop-wide lists


def popular_pairs(session: Session, *, window_days: int, n: int) -> list[tuple[str, float]]:
    """SKUs bought by the most customers in the window (ties: larger quantity first)."""
    since = ingestion.utcnow() - timedelta(days=window_days)
    buyers = func.count(func.distinct(Interaction.customer_key))
    qty = func.sum(Interaction.qty)
    rows = session.execute(
        select(Interaction.sku, buyers, qty)
        .where(Interaction.qty > 0, Interaction.last_purchase_at >= since)
        .group_by(Interaction.sku)
        .order_by(buyers.desc(), qty.desc(), Interaction.sku)
        .limit(n)
    )
    return [(str(sku), float(count)) for sku, count, _ in rows]


def refresh_popular(rt: Runtime, *, force: bool = False) -> bool:
    """Recompute the popular list, at most once per DMFREC_POPULAR_REFRESH_S unless forced."""
    throttle = rt.settings.popular_refresh_s
    if not force and throttle > 0 and not rt.redis.set(publish.POPULAR_LOCK, "1", nx=True,
                                                         ex=throttle):
        return False
    with rt.reading() as session:
        pairs = popular_pairs(session, window_days=rt.settings.window_days,
                              n=rt.settings.publish_n)
    publish.publish_popular(rt.redis, pairs)
    return True


def refresh_hidden_skus(rt: Runtime) -> int:
    """Rebuild the hidden set from the SKU table: disabled, invisible or out-of-stock SKUs."""
    with rt.reading() as session:
        skus = session.scalars(
            select(Product.sku)
            .where(Product.enabled.is_(False) | Product.in_stock.is_(False)
                   | Product.visible.is_(False))
            ).all()
    return publish.set_hidden_skus(rt.redis, skus)


def enqueue_pending(rt: Runtime, celery, *, send_limit: int = 1000, page: int = 1000,
                    scan_limit: int = 200_000) -> int:
    """Send events still pending after DMFREC_PENDING_AFTER_S that no queued message will
    reach (the broker was down when they came, or their task was lost).

    The webhook sends a new event at most once (none while a sent task has not started: that
    task's drain claims it, worker.events) and marks nothing; this sweep marks what it sends
    (worker.events) and sends an event again only once that mark expired
    (DMFREC_RESEND_AFTER_S). While the ingest queue holds messages, events that never failed
    are left alone: each ingest task claims the oldest of them into its batch
    (storage.ingestion.process_batch), so the queue reaches them, and a message each would
    double a backlog the workers are still working through. Events that failed before are
    never claimed by a batch: those are sent whenever unmarked.

    Pages through the pending events oldest first until `send_limit` were sent or
    `scan_limit` seen, so a long backlog of recently sent (or repeatedly failing) events
    never hides a newer lost one."""
    retried_only = _ingest_waiting(celery) > 0
    sent = seen = unsent = 0
    after = None
    while sent < send_limit and seen < scan_limit:
        rows = ingestion.pending_page(rt.engine, rt.settings.pending_after_s, page, after,
                                      retried_only=retried_only)
        if not rows:
            break
        seen += len(rows)
        after = (rows[-1][1], rows[-1][2])
        ids = events.unmarked(rt.redis, [r[0] for r in rows])[: send_limit - sent]
        unsent += len(ids)
        for event_id in ids:
            if not events.enqueue(celery, event_id, rt.redis, rt.settings.resend_after_s):
                return _sent(seen, unsent, sent)  # broker down: the next sweep tries again
            sent += 1
        if len(rows) < page:
            break
    return _sent(seen, unsent, sent)


def _ingest_waiting(celery) -> int:
    """Messages waiting in the broker's ingest queue (the app's default queue: ingest tasks
    go there); 0 when it does not answer (the sends then fail too, the next sweep retries)."""
    broker = redis_lib.Redis.from_url(celery.conf.broker_url, socket_connect_timeout=2,
                                      socket_timeout=5)
    try:
        return backlog.queue_depth(broker, celery.conf.task_default_queue)
    except redis_lib.RedisError:
        return 0
    finally:
        broker.close()


def _sent(seen: int, unsent: int, sent: int) -> int:
    if seen:
        log.info("re-enqueued pending events",
                 extra={"pending": seen, "unsent": unsent, "sent": sent})
    return sent
