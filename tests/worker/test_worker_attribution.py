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


def test_a_guest_order_is_credited_by_its_browser_session(rt, make_event, record):
    """The session id the module stamped at checkout ties a guest's order to that browser
    session's clicks; the admin's later cancel (no session in its snapshot) takes it back."""
    session = "s.Zm9vYmFyYmF6cXV4cXV1eA.0123456789abcdef0123"
    record_events(rt.engine, [{"rec_id": "c" * 32, "sku": "SKU-B", "kind": "click",
                               "position": 1, "subject": session, "experiment": "",
                               "arm": "dmf", "version": "v1",
                               "at": utcnow() - timedelta(days=2)}])
    placed = make_event("g1", customer_id=None, lines={"SKU-A": 1, "SKU-B": 3}, minutes_ago=10)
    placed["order"]["session_id"] = session
    live.process_event(rt, record(placed))
    assert _credited(rt) == [("SKU-B", Decimal("30.0000"), "dmf")]
    partly = make_event("g2", customer_id=None, lines={"SKU-A": 1, "SKU-B": (3, 1)},
                        minutes_ago=5)
    live.process_event(rt, record(partly))
    assert _credited(rt) == [("SKU-B", Decimal("20.0000"), "dmf")]
    canceled = make_event("g3", customer_id=None, lines={"SKU-A": 1, "SKU-B": (3, 3)},
                          minutes_ago=4)
    live.process_event(rt, record(canceled))
    assert _credited(rt) == []


def test_a_late_placement_snapshot_brings_the_session_and_the_credit(rt, make_event, record):
    """Out of order: the invoice's snapshot (without the session) is applied first; the
    placement's, older and so stale, still brings the session, and the click is credited."""
    session = "s.bGF0ZWxhdGVsYXRlbGF0ZQ.00112233445566778899"
    record_events(rt.engine, [{"rec_id": "d" * 32, "sku": "SKU-A", "kind": "click",
                               "position": 1, "subject": session, "experiment": "",
                               "arm": "dmf", "version": None,
                               "at": utcnow() - timedelta(hours=1)}])
    invoiced = make_event("i2", entity_id=2002, customer_id=None, lines={"SKU-A": 1},
                          minutes_ago=5)
    placed = make_event("i1", entity_id=2002, customer_id=None, lines={"SKU-A": 1},
                        minutes_ago=10)
    placed["order"]["session_id"] = session
    live.process_event(rt, record(invoiced))
    assert _credited(rt) == []
    assert live.process_event(rt, record(placed))["outcome"] == "stale"
    assert _credited(rt) == [("SKU-A", Decimal("10.0000"), "dmf")]
