"""Attribution on MariaDB and SQLite: an order line of a SKU the customer clicked in a
recommendation within the window is credited once, with its net base-currency amount;
refunds and cancels (newer snapshots) take the credit back exactly; nothing else is credited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from storage.analytics import attribute, record_events
from storage.analytics_models import AttributedLine
from storage.ingestion import Policy, ingest

POLICY = Policy(guest_salt="salt-for-attribution-tests")
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _click(engine, subject: str, sku: str, at: datetime, rec: str = "r" * 32) -> None:
    record_events(engine, [{"rec_id": rec, "sku": sku, "kind": "click", "position": 1,
                            "subject": subject, "experiment": "exp", "arm": "dmf",
                            "version": "v1", "at": at}])


def _order(engine, event_id: str, *, customer: int = 42, refunded: int = 0, canceled: int = 0,
           state: str = "processing", updated: int = 0, entity: int = 7) -> None:
    stamp = lambda t: t.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    ingest(engine, [{"event_id": event_id, "order": {
        "entity_id": entity, "increment_id": str(entity), "customer_id": customer,
        "customer_email": "c@example.com", "state": state, "status": state,
        "created_at": stamp(NOW), "updated_at": stamp(NOW + timedelta(seconds=updated)),
        "items": [{"item_id": 1, "sku": "SKU-A", "qty_ordered": 2, "qty_refunded": refunded,
                   "qty_canceled": canceled,
                   "price": 12.5, "row_total": 25, "base_row_total": 20},
                  {"item_id": 2, "sku": "SKU-B", "qty_ordered": 1, "price": 5,
                   "row_total": 5}]}}], POLICY)


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


def test_only_clicks_inside_the_window_count(engine):
    _click(engine, "42", "SKU-A", NOW - timedelta(days=8))
    _click(engine, "42", "SKU-B", NOW + timedelta(hours=1), rec="s" * 32)  # after the order
    _order(engine, "e1")
    assert attribute(engine, [7], POLICY, 7) == 0
    assert attribute(engine, [7], POLICY, 9) == 1
    assert _credited(engine) == [(7, "SKU-A", Decimal("20.0000"), "42")]
