"""The live loop's attribution step: after an order's event is applied, its lines are
credited again to the recommendation clicks that led to them (storage.analytics), from the
order's newest snapshot, so cancels and refunds take the credit back exactly. Idempotent: a
redelivered event recomputes the same rows."""

from __future__ import annotations

from collections.abc import Iterable

from storage import analytics
from worker.runtime import Runtime


def refresh_order(rt: Runtime, order_id: int) -> int:
    """Recompute the order's attributed lines; returns how many are credited."""
    return refresh_orders(rt, [order_id])


def refresh_orders(rt: Runtime, order_ids: Iterable[int]) -> int:
    """Recompute the attributed lines of these orders (one batch's) in one transaction."""
    return analytics.attribute(rt.engine, order_ids, rt.policy, rt.settings.attribution_days)


def roll_up(rt: Runtime) -> dict:
    """Daily (beat's ``analytics-roll-up``): raw impressions and clicks older than
    DMFREC_ANALYTICS_RAW_DAYS (never less than the attribution window, which reads the raw
    clicks) are counted per day/experiment/arm/SKU and deleted."""
    keep = max(rt.settings.analytics_raw_days, rt.settings.attribution_days)
    return {"rolled_up": analytics.roll_up(rt.engine, keep), "kept_days": keep}
