"""Writes and reads of storefront analytics: reported impressions and clicks (deduplicated),
attribution of order lines to clicks, and the daily roll-up of old raw rows.

Attribution is recomputed per order from its stored lines, like `interactions`: a counted
line (its effective quantity > 0, at the policy's SKU level, order state counted) of a SKU
that the order's customer -- or the browser session the order was placed from
(`orders.session_id`: a guest's clicks are reported under the widget's random session id) --
clicked in a recommendation within DMFREC_ATTRIBUTION_DAYS before the order is credited to the
newest such click, with the line's net amount in base currency (`order_lines.amount`), once.
A cancel or refund re-derives the line, so the credit shrinks or goes exactly; applying the
same snapshot again changes nothing. A line keeps the click it was credited to once that raw
click is rolled up (a refund weeks later still shrinks the credit, not erases it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from storage.analytics_models import AttributedLine, RecDaily, RecEvent
from storage.db import run_transaction
from storage.ingestion import Policy, utcnow
from storage.models import Order, OrderLine
from storage.upsert import chunks, upsert

EVENTS = RecEvent.__table__
DAILY = RecDaily.__table__
ATTRIBUTED = AttributedLine.__table__
# Magento's clock against ours: a click stamped here may look a little later than the order.
CLOCK_SKEW = timedelta(minutes=5)


def record_events(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert reported impressions/clicks; one already known (same rec id, SKU, kind) stays."""
    run_transaction(engine, lambda s: upsert(s, EVENTS, rows, update=[]))


def attribute_orders(session: Session, order_ids: Iterable[int], policy: Policy,
                     window_days: int) -> int:
    """Recompute the attributed lines of these orders (in the caller's transaction)."""
    ids = sorted(set(order_ids))
    written = 0
    for part in chunks(ids):
        # The raw click behind a credit is rolled up after DMFREC_ANALYTICS_RAW_DAYS, but a
        # refund (or any later snapshot) may come after that: the credit it gave then stays.
        prior = {(r.order_id, r.item_id): r for r in session.execute(
            select(ATTRIBUTED).where(ATTRIBUTED.c.order_id.in_(part)))}
        session.execute(delete(ATTRIBUTED).where(ATTRIBUTED.c.order_id.in_(part)))
        # Most orders' customers and sessions never clicked: their lines are not read at all
        # (unless the order already holds a credit, whose click may be rolled up by now).
        whose = {r.entity_id: {s for s in (r.customer_key, r.session_id) if s is not None}
                    for r in session.execute(select(Order.entity_id, Order.customer_key,
                                                    Order.session_id)
                                             .where(Order.entity_id.in_(part)))}
        clicked = _clicked(session, set().union(*whose.values()))
        clickers = {s for s, _ in clicked}
        credited = {oid for oid, _ in prior}
        candidates = sorted(oid for oid, subs in whose.items()
                            if subs & clickers or oid in credited)
        if not candidates:
            continue
        level = OrderLine.is_leaf if policy.sku_level == "simple" else OrderLine.is_top
        q = (select(OrderLine.order_id, OrderLine.item_id, OrderLine.sku, OrderLine.amount,
                    Order.customer_key, Order.session_id, Order.created_at)
             .join(Order, Order.entity_id == OrderLine.order_id)
             .where(OrderLine.order_id.in_(candidates), level.is_(True),
                    OrderLine.effective_qty > 0))
        if policy.uncounted_states:
            q = q.where(Order.state.not_in(sorted(policy.uncounted_states)))
        lines = session.execute(q).all()
        rows = []
        for line in lines:
            subjects = [s for s in (line.customer_key, line.session_id) if s is not None]
            click = None
            if any((s, line.sku) in clicked for s in subjects):
                click = session.execute(
                    select(RecEvent.rec_id, RecEvent.experiment, RecEvent.arm,
                           RecEvent.at.label("clicked_at"))
                    .where(RecEvent.subject.in_(subjects), RecEvent.sku == line.sku,
                           RecEvent.kind == "click",
                           RecEvent.at <= line.created_at + CLOCK_SKEW,
                           RecEvent.at >= line.created_at - timedelta(days=window_days))
                    .order_by(RecEvent.at.desc(), RecEvent.rec_id).limit(1)).first()
            if click is None:
                old = prior.get((line.order_id, line.item_id))
                click = old if old is not None and old.sku == line.sku else None
            if click is not None:
                rows.append({"order_id": line.order_id, "item_id": line.item_id,
                             "customer_key": line.customer_key or line.session_id,
                             "sku": line.sku,
                             "rec_id": click.rec_id, "experiment": click.experiment,
                             "arm": click.arm, "amount": line.amount,
                             "ordered_at": line.created_at, "clicked_at": click.clicked_at})
        if rows:
            session.execute(insert(ATTRIBUTED), rows)
        written += len(rows)
    return written


def _clicked(session: Session, subjects: Iterable[str]) -> set[tuple[str, str]]:
    """(subject, SKU) of every click of these subjects, whenever it was (a superset of what
    a line can be credited to; the subject index serves it)."""
    found: set[tuple[str, str]] = set()
    for part in chunks(sorted(subjects)):
        found.update(tuple(r) for r in session.execute(
            select(RecEvent.subject, RecEvent.sku).distinct()
            .where(RecEvent.subject.in_(part), RecEvent.kind == "click")))
    return found


def attribute(engine: Engine, order_ids: Iterable[int], policy: Policy, window_days: int
              ) -> int:
    """`attribute_orders` in its own transaction; returns how many lines are credited."""
    ids = list(order_ids)
    return run_transaction(engine, lambda s: attribute_orders(s, ids, policy, window_days))


def roll_up(engine: Engine, keep_days: int, now: datetime | None = None) -> int:
    """Count raw impressions/clicks older than `keep_days` whole days into `rec_daily`, then
    delete them; returns how many raw rows were rolled up. Whole days only, so a day is
    counted once: its rows all go in the same run."""
    cutoff = datetime.combine((now or utcnow()).date() - timedelta(days=keep_days),
                              datetime.min.time())
    day = func.date(RecEvent.at)

    def work(session: Session) -> int:
        q = (select(day.label("day"), RecEvent.experiment, RecEvent.arm, RecEvent.sku,
                    RecEvent.kind, func.count().label("n"),
                    func.count(func.distinct(RecEvent.subject)).label("subjects"))
             .where(RecEvent.at < cutoff)
             .group_by(day, RecEvent.experiment, RecEvent.arm, RecEvent.sku, RecEvent.kind))
        found = session.execute(q).all()
        if not found:
            return 0
        existing = {(r.day, r.experiment, r.arm, r.sku, r.kind): r for r in session.execute(
            select(RecDaily).where(RecDaily.day.in_({_day(r.day) for r in found})))
            .scalars()}
        rows = []
        for r in found:
            key = (_day(r.day), r.experiment, r.arm, r.sku, r.kind)
            old = existing.get(key)
            rows.append({"day": key[0], "experiment": r.experiment, "arm": r.arm, "sku": r.sku,
                         "kind": r.kind, "count": r.n + (old.count if old else 0),
                         "subjects": r.subjects + (old.subjects if old else 0)})
        upsert(session, DAILY, rows)
        return session.execute(delete(EVENTS).where(RecEvent.at < cutoff)).rowcount

    return run_transaction(engine, work)


def _day(value: Any):
    from datetime import date

    return value if isinstance(value, date) else date.fromisoformat(str(value))


def daily_figures(engine: Engine, since: datetime) -> list[dict[str, Any]]:
    """Per day, experiment and arm since `since`: impressions, clicks, CTR, orders, attributed
    revenue (raw rows and roll-ups together). Lists served outside any experiment (experiment
    "": guests, or everybody once a winner is served) are kept apart from an experiment's arm
    of the same name, so the arms compare like with like."""
    def work(session: Session) -> list[dict[str, Any]]:
        figures: dict[tuple[str, str, str], dict[str, Any]] = {}

        def slot(day: Any, experiment: str, arm: str) -> dict[str, Any]:
            key = (_day(day).isoformat(), experiment, arm)
            return figures.setdefault(key, {"day": key[0], "experiment": experiment, "arm": arm,
                                            "impressions": 0, "clicks": 0, "orders": 0,
                                            "revenue": 0.0})

        day = func.date(RecEvent.at)
        for r in session.execute(select(day, RecEvent.experiment, RecEvent.arm, RecEvent.kind,
                                        func.count())
                                 .where(RecEvent.at >= since)
                                 .group_by(day, RecEvent.experiment, RecEvent.arm,
                                           RecEvent.kind)):
            slot(r[0], r[1], r[2])[f"{r[3]}s"] += r[4]
        for r in session.execute(select(RecDaily.day, RecDaily.experiment, RecDaily.arm,
                                        RecDaily.kind, func.sum(RecDaily.count))
                                 .where(RecDaily.day >= since.date())
                                 .group_by(RecDaily.day, RecDaily.experiment, RecDaily.arm,
                                           RecDaily.kind)):
            slot(r[0], r[1], r[2])[f"{r[3]}s"] += int(r[4])
        oday = func.date(AttributedLine.ordered_at)
        for r in session.execute(select(oday, AttributedLine.experiment, AttributedLine.arm,
                                        func.count(func.distinct(AttributedLine.order_id)),
                                        func.sum(AttributedLine.amount))
                                 .where(AttributedLine.ordered_at >= since)
                                 .group_by(oday, AttributedLine.experiment, AttributedLine.arm)):
            s = slot(r[0], r[1], r[2])
            s["orders"], s["revenue"] = int(r[3]), float(r[4] or 0)
        out = sorted(figures.values(), key=lambda f: (f["day"], f["experiment"], f["arm"]))
        for f in out:
            f["ctr"] = f["clicks"] / f["impressions"] if f["impressions"] else None
        return out

    return run_transaction(engine, work)


__all__ = ["attribute", "attribute_orders", "daily_figures", "record_events",
           "roll_up"]
