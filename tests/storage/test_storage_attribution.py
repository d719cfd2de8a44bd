"""Attribution on MariaDB and SQLite: an order line of a SKU the customer clicked in a
recommendation within the window is credited once, with its net base-currency amount;
refunds and cancels (newer snapshots) take the credit back exactly; nothing else is credited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from storage.analytics import attribute, record_events, roll_up
from storage.analytics_models import AttributedLine
from storage.ingestion import Policy, guest_key, ingest
from storage.models import Order
from storage.snapshot import SnapshotError, parse_event

POLICY = Policy(guest_salt="salt-for-attribution-tests")
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _click(engine, subject: str, sku: str, at: datetime, rec: str = "r" * 32) -> None:
    record_events(engine, [{"rec_id": rec, "sku": sku, "kind": "click", "position": 1,
                            "subject": subject, "experiment": "exp", "arm": "dmf",
                            "version": "v1", "at": at}])


def _order(engine, event_id: str, *, customer: int | None = 42, refunded: int = 0,
           canceled: int = 0, state: str = "processing", updated: int = 0, entity: int = 7,
           session: str | None = None, email: str | None = "c@example.com") -> None:
    stamp = lambda t: t.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    order = {
        "entity_id": entity, "increment_id": str(entity), "customer_id": customer,
        "customer_is_guest": customer is None, "customer_email": email,
        "state": state, "status": state,
        "created_at": stamp(NOW), "updated_at": stamp(NOW + timedelta(seconds=updated)),
        "items": [{"item_id": 1, "sku": "SKU-A", "qty_ordered": 2, "qty_refunded": refunded,
                   "qty_canceled": canceled,
                   "price": 12.5, "row_total": 25, "base_row_total": 20},
                  {"item_id": 2, "sku": "SKU-B", "qty_ordered": 1, "price": 5,
                   "row_total": 5}]}
    if session is not None:
        order["session_id"] = session
    outcome = ingest(engine, [{"event_id": event_id, "order": order}], POLICY)
    assert outcome[event_id] != "failed", outcome


def _credited(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(AttributedLine.order_id, AttributedLine.sku, AttributedLine.amount,
                   AttributedLine.customer_key).order_by(AttributedLine.item_id))]


def test_clicked_lines_are_credited_once_and_taken_back(engine):
    _click(engine, "42", "SKU-A", NOW - timedelta(days=2))
    _click(engine, "43", "SKU-B", NOW - timedelta(hours=1))  # someone else's click
    _order(engine, "e1")
    assert attribute(engine, [7], POLICY, 7) == 1
    assert attribute(engine, [7], POLICY, 7) == 1  # again: the same, not twice
    assert _credited(engine) == [(7, "SKU-A", Decimal("20.0000"), "42")]  # base currency
    _order(engine, "e2", refunded=1, updated=60)
    attribute(engine, [7], POLICY, 7)
    assert _credited(engine) == [(7, "SKU-A", Decimal("10.0000"), "42")]
    _order(engine, "e0", updated=-60)  # an older snapshot arriving late changes nothing
    attribute(engine, [7], POLICY, 7)
    assert _credited(engine) == [(7, "SKU-A", Decimal("10.0000"), "42")]
    _order(engine, "e3", state="closed", refunded=2, updated=120)  # refunded in full
    attribute(engine, [7], POLICY, 7)
    assert _credited(engine) == []
    _order(engine, "f1", entity=8)
    assert attribute(engine, [8], POLICY, 7) == 1
    _order(engine, "f2", entity=8, state="canceled", canceled=2, updated=60)
    assert attribute(engine, [8], POLICY, 7) == 0 and _credited(engine) == []


def test_a_refund_after_the_click_was_rolled_up_still_shrinks_the_credit_exactly(engine):
    """The raw click goes after DMFREC_ANALYTICS_RAW_DAYS; a return can come later (or any
    later snapshot: shipped, invoiced). The credit given then stays and follows the line."""
    _click(engine, "42", "SKU-A", NOW - timedelta(days=6))
    _order(engine, "e1")
    assert attribute(engine, [7], POLICY, 7) == 1
    assert roll_up(engine, 30, now=NOW + timedelta(days=31)) == 1  # the click is gone
    _order(engine, "e2", refunded=1, updated=60)
    assert attribute(engine, [7], POLICY, 7) == 1
    assert _credited(engine) == [(7, "SKU-A", Decimal("10.0000"), "42")]
    _order(engine, "e3", state="closed", refunded=2, updated=120)
    assert attribute(engine, [7], POLICY, 7) == 0 and _credited(engine) == []


def test_only_clicks_inside_the_window_count(engine):
    _click(engine, "42", "SKU-A", NOW - timedelta(days=8))
    _click(engine, "42", "SKU-B", NOW + timedelta(hours=1), rec="s" * 32)  # after the order
    _order(engine, "e1")
    assert attribute(engine, [7], POLICY, 7) == 0
    assert attribute(engine, [7], POLICY, 9) == 1
    assert _credited(engine) == [(7, "SKU-A", Decimal("20.0000"), "42")]


SESSION = "s.Zm9vYmFyYmF6cXV4cXV1eA.0123456789abcdef0123"  # the widget's guest session id
OTHER_SESSION = "s.b3RoZXJvdGhlcm90aGVyb3Ro.fedcba9876543210fedc"


def test_a_guest_order_is_credited_to_its_browser_sessions_clicks(engine):
    guest = guest_key("c@example.com", POLICY.guest_salt)
    _click(engine, SESSION, "SKU-A", NOW - timedelta(days=3))
    _click(engine, OTHER_SESSION, "SKU-B", NOW - timedelta(hours=1), rec="o" * 32)
    _order(engine, "g1", customer=None, session=SESSION)
    assert attribute(engine, [7], POLICY, 7) == 1
    assert attribute(engine, [7], POLICY, 7) == 1  # again: once, not twice
    assert _credited(engine) == [(7, "SKU-A", Decimal("20.0000"), guest)]
    # A refund saved in the admin has no browser: its snapshot carries no session id, and
    # the order keeps the one it was placed from; the credit shrinks exactly.
    _order(engine, "g2", customer=None, refunded=1, updated=60)
    attribute(engine, [7], POLICY, 7)
    assert _credited(engine) == [(7, "SKU-A", Decimal("10.0000"), guest)]
    with engine.connect() as conn:
        assert conn.scalar(select(Order.session_id).where(Order.entity_id == 7)) == SESSION
    _order(engine, "g3", customer=None, state="closed", refunded=2, updated=120)
    attribute(engine, [7], POLICY, 7)
    assert _credited(engine) == []
    # A cancel takes a guest's credit back as well.
    _order(engine, "h1", customer=None, session=SESSION, entity=8)
    assert attribute(engine, [8], POLICY, 7) == 1
    _order(engine, "h2", customer=None, session=SESSION, entity=8, state="canceled",
           canceled=2, updated=60)
    assert attribute(engine, [8], POLICY, 7) == 0 and _credited(engine) == []


def test_session_clicks_outside_the_window_or_of_another_session_do_not_count(engine):
    _click(engine, SESSION, "SKU-A", NOW - timedelta(days=8))
    _click(engine, OTHER_SESSION, "SKU-B", NOW - timedelta(hours=1), rec="o" * 32)
    _order(engine, "g1", customer=None, session=SESSION)
    _order(engine, "n1", customer=None, entity=9)  # a guest order without a session
    _click(engine, SESSION, "SKU-B", NOW - timedelta(hours=1), rec="x" * 32)
    assert attribute(engine, [7, 9], POLICY, 7) == 1
    assert [r[:2] for r in _credited(engine)] == [(7, "SKU-B")]
    assert attribute(engine, [7, 9], POLICY, 9) == 2  # a wider window reaches the old click


def test_a_guest_without_email_and_a_customer_who_browsed_as_a_guest(engine):
    _click(engine, SESSION, "SKU-A", NOW - timedelta(hours=2))
    _order(engine, "g1", customer=None, email=None, session=SESSION)  # no key: the session
    assert attribute(engine, [7], POLICY, 7) == 1
    assert _credited(engine) == [(7, "SKU-A", Decimal("20.0000"), SESSION)]
    # Clicked as a guest, logged in at checkout: the session's clicks count for the customer.
    _click(engine, OTHER_SESSION, "SKU-B", NOW - timedelta(hours=1), rec="o" * 32)
    _order(engine, "c1", customer=43, session=OTHER_SESSION, entity=10)
    assert attribute(engine, [10], POLICY, 7) == 1
    assert _credited(engine)[-1] == (10, "SKU-B", Decimal("5.0000"), "43")


def test_a_malformed_session_id_is_refused_naming_the_field():
    base = {"event_id": "e", "order": {
        "entity_id": 1, "increment_id": "1", "state": "new", "created_at": "2026-12-01 10:00:00",
        "updated_at": "2026-12-01 10:00:00", "items": [{"item_id": 1, "sku": "A",
                                                        "qty_ordered": 1}]}}
    assert parse_event({**base, "order": {**base["order"], "session_id": SESSION}}
                       ).order.session_id == SESSION
    for bad in ("new", "s.abc", "s.a b.00", "s." + "a" * 60 + ".00", "s.ab.0F<", 42):
        with pytest.raises(SnapshotError, match=r"order\.session_id"):
            parse_event({**base, "order": {**base["order"], "session_id": bad}})
