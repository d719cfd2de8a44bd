"""Batched ingestion (issue #17) on MariaDB and SQLite: one batch ends exactly where the same
events applied one by one end, redelivery changes nothing, and a claim skips what another
batch holds without waiting."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import Engine, select, update
from storage_dbs import clean
from storage_oracle import event, expected_pairs, item, normalise, order, stored_pairs

from storage.db import make_engine
from storage.ingestion import Policy, guest_key, process, process_batch, receive
from storage.models import Event, Interaction, Order, OrderLine

POLICY = Policy()
REFUNDED = order(1, [item(1, "A", 2, 5, qty_invoiced=2), item(2, "B", 1, 3, qty_invoiced=1,
                                                                qty_refunded=1)],
                 updated="2024-01-10 12:00:00")
PLACED = order(1, [item(1, "A", 2, 5), item(2, "B", 1, 3)], updated="2024-01-10 10:00:00")
SECOND = order(2, [item(3, "A", 1, 5)], created="2024-01-11 09:00:00")
CANCELED = order(2, [item(3, "A", 1, 5, qty_canceled=1)], state="canceled",
                 created="2024-01-11 09:00:00", updated="2024-01-11 10:00:00")
OTHER = order(3, [item(4, "C", 3, 2, qty_invoiced=3, qty_refunded=1)], customer_id=2)
GUEST = order(4, [item(5, "D", 1, 9)], customer_id=None, email="G@x.org", guest=True)
# The newest snapshot of order 1 comes first, the older one after it (out of order).
DELIVERED = [("refund-1", REFUNDED), ("placed-1", PLACED), ("second-2", SECOND),
             ("other-3", OTHER), ("guest-4", GUEST), ("cancel-2", CANCELED)]


def record(engine: Engine) -> list[str]:
    for eid, body in DELIVERED:
        receive(engine, json.dumps(event(eid, body)))
    return [eid for eid, _ in DELIVERED]


def state(engine: Engine) -> dict:
    """Everything ingestion writes, less the times of writing."""
    with engine.connect() as conn:
        pairs = conn.execute(select(Interaction.__table__).order_by("customer_key", "sku"))
        orders = conn.execute(select(Order.__table__).order_by(Order.entity_id))
        lines = conn.execute(select(OrderLine.__table__).order_by("order_id", "item_id"))
        events = conn.execute(select(Event.event_id, Event.status, Event.customer_key,
                                     Event.payload, Event.attempts).order_by(Event.event_id))
        return {
            "pairs": [r._asdict() | {"updated_at": None} for r in pairs],
            "orders": [r._asdict() | {"ingested_at": None} for r in orders],
            "lines": [r._asdict() for r in lines],
            "events": [tuple(r) for r in events],
        }


def test_one_batch_ends_where_one_by_one_ends(engine):
    ids = record(engine)
    one_by_one = {eid: process(engine, [eid], POLICY)[eid] for eid in ids}
    assert one_by_one == {"refund-1": "applied", "placed-1": "stale", "second-2": "applied",
                          "other-3": "applied", "guest-4": "applied", "cancel-2": "applied"}
    expected = state(engine)
    clean(engine)

    record(engine)
    batch = process_batch(engine, "cancel-2", 64, POLICY)
    assert batch.outcomes == one_by_one
    assert state(engine) == expected
    newest = [REFUNDED, CANCELED, OTHER, GUEST]
    assert normalise(stored_pairs(engine)) == normalise(expected_pairs(newest, POLICY))
    assert ("1", "B") not in stored_pairs(engine)  # refunded
    assert batch.customers == {"1", "2", guest_key("G@x.org", POLICY.guest_salt)}
    assert batch.orders == {"refund-1": 1, "placed-1": 1, "second-2": 2, "other-3": 3,
                            "guest-4": 4, "cancel-2": 2}

    # Redelivery: every event again, alone or in a new batch, changes nothing.
    assert {eid: process(engine, [eid], POLICY)[eid] for eid in ids} == dict.fromkeys(
        ids, "duplicate")
    assert process_batch(engine, "refund-1", 64, POLICY).outcomes == {}
    assert state(engine) == expected


def test_batches_of_two_in_any_order_end_alike(engine):
    ids = record(engine)
    for eid in ids:
        process(engine, [eid], POLICY)
    expected = state(engine)
    clean(engine)
    record(engine)
    sizes = []
    for first in reversed(ids):  # each task claims its own event and the oldest other
        sizes.append(len(process_batch(engine, first, 2, POLICY).outcomes))
    assert sizes == [2, 2, 2, 0, 0, 0]
    # Applied in another order than delivered: the same tables; only which superseded
    # snapshot is labelled stale rather than applied may differ (as with reordered tasks).
    got = state(engine)
    assert {k: got[k] for k in ("pairs", "orders", "lines")} == {
        k: expected[k] for k in ("pairs", "orders", "lines")}


def test_an_event_that_failed_before_is_not_claimed(engine):
    ids = record(engine)
    with engine.begin() as conn:
        conn.execute(update(Event).where(Event.event_id == "other-3").values(attempts=1))
    batch = process_batch(engine, "other-3", 64, POLICY)
    assert set(batch.outcomes) == set(ids) - {"other-3"}
    assert process(engine, ["other-3"], POLICY) == {"other-3": "applied"}  # alone


def test_a_claim_skips_events_another_batch_holds(migrated_engines):
    """MariaDB: SKIP LOCKED. A held event is left to its holder, and the claim does not wait
    (SQLite serialises writers: there is nothing to skip there)."""
    engine = migrated_engines["mariadb"]
    clean(engine)
    ids = record(engine)
    holder = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with holder.connect() as conn, conn.begin():
            conn.execute(select(Event.id).where(Event.event_id.in_(["refund-1", "other-3"]))
                         .with_for_update())
            started = time.monotonic()
            batch = process_batch(engine, "refund-1", 64, POLICY)
            assert time.monotonic() - started < 5  # InnoDB's lock wait is 50 s
            assert set(batch.outcomes) == set(ids) - {"refund-1", "other-3"}
            assert batch.outcomes["placed-1"] == "applied"  # the newer one is not applied yet
        # Released: the held events apply, and the newest snapshot of order 1 wins.
        assert process(engine, ["refund-1", "other-3"], POLICY) == {
            "refund-1": "applied", "other-3": "applied"}
    finally:
        holder.dispose()
    newest = [REFUNDED, CANCELED, OTHER, GUEST]
    assert normalise(stored_pairs(engine)) == normalise(expected_pairs(newest, POLICY))


@pytest.mark.parametrize("limit", [1, 3])
def test_limit_bounds_the_batch(engine, limit):
    record(engine)
    assert len(process_batch(engine, None, limit, POLICY).outcomes) == limit
