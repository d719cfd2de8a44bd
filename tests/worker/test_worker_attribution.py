"""The live loop credits recommendation clicks when it applies an order's events, and a
later cancel (a newer snapshot) takes the credit back; a redelivery changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from storage.analytics import record_events
from storage.analytics_models import AttributedLine
from storage.ingestion import utcnow
from worker import attribution, live


def _credited(rt) -> list[tuple]:
    with rt.reading() as session:
        return [tuple(r) for r in session.execute(
            select(AttributedLine.sku, AttributedLine.amount, AttributedLine.arm))]


def test_process_event_attributes_and_cancels(rt, make_event, record):
    record_events(rt.engine, [{"rec_id": "a" * 32, "sku": "SKU-A", "kind": "click",
                               "position": 2, "subject": "42", "experiment": "",
                               "arm": "popular", "version": None,
                               "at": utcnow() - timedelta(hours=1)}])
    first = record(make_event("e1", lines={"SKU-A": 2, "SKU-B": 1}, minutes_ago=10))
    live.process_event(rt, first)
    assert _credited(rt) == [("SKU-A", Decimal("20.0000"), "popular")]
    live.process_event(rt, first)  # redelivered
    assert _credited(rt) == [("SKU-A", Decimal("20.0000"), "popular")]
    cancel = record(make_event("e2", lines={"SKU-A": (2, 2), "SKU-B": 1}, minutes_ago=5))
    live.process_event(rt, cancel)
    assert _credited(rt) == []


def test_roll_up_never_drops_clicks_inside_the_attribution_window(rt):
    rt.settings = rt.settings.model_copy(update={"analytics_raw_days": 1,
                                                 "attribution_days": 7})
    at = utcnow() - timedelta(days=5)
    record_events(rt.engine, [{"rec_id": "b" * 32, "sku": "SKU-A", "kind": "click",
                               "position": 1, "subject": "42", "experiment": "",
                               "arm": "dmf", "version": None, "at": at}])
    assert attribution.roll_up(rt) == {"rolled_up": 0, "kept_days": 7}
    rt.settings = rt.settings.model_copy(update={"attribution_days": 2})
    assert attribution.roll_up(rt) == {"rolled_up": 1, "kept_days": 2}
