"""Ingestion scenarios on MariaDB and SQLite: the rule of magento.md, policies, events."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from storage_dbs import url_of
from storage_oracle import event, expected_pairs, item, normalise, order, stored_pairs

from storage.db import make_engine
from storage.ingestion import (
    Policy,
    guest_key,
    ingest,
    pending_event_ids,
    process,
    rebuild_interactions,
    receive,
    replay,
)
from storage.models import Event, Order, OrderLine, Product
from storage.snapshot import SnapshotError

POLICY = Policy()


def rows(engine, model, *where):
    with engine.connect() as conn:
        return conn.execute(select(model.__table__).where(*where)).all()


def test_newest_snapshot_wins_and_refund_removes(engine):
    placed = order(1, [item(1, "A", 2, "5.5"), item(2, "B", 1, 3)], updated="2024-01-10 10:00:00")
    refunded = order(1, [item(1, "A", 2, "5.5", qty_invoiced=2, qty_refunded=1),
                         item(2, "B", 1, 3, qty_invoiced=1, qty_refunded=1)],
                     state="processing", updated="2024-01-11 10:00:00")
    assert ingest(engine, [event("e2", refunded)], POLICY) == {"e2": "applied"}
    # The older snapshot arrives late: ignored, and does not resurrect B.
    assert ingest(engine, [event("e1", placed)], POLICY) == {"e1": "stale"}
    assert stored_pairs(engine) == {
        ("1", "A"): (Decimal("1.0000"), Decimal("5.5000"), 1, datetime(2024, 1, 10, 10),
                     datetime(2024, 1, 10, 10)),
    }
    # Repeats (same id, or a new id with equal updated_at) change nothing.
    assert ingest(engine, [event("e2", refunded)], POLICY) == {"e2": "duplicate"}
    assert ingest(engine, [event("e3", refunded)], POLICY) == {"e3": "applied"}
    assert normalise(stored_pairs(engine)) == normalise(expected_pairs([refunded], POLICY))
    status = {r.event_id: r.status for r in rows(engine, Event)}
    assert status == {"e1": "stale", "e2": "applied", "e3": "applied"}


def test_equal_updated_at_ordered_by_progress(engine):
    invoiced = order(1, [item(1, "A", 3, 1, qty_invoiced=3)], updated="2024-01-10 10:00:00")
    refunded = order(1, [item(1, "A", 3, 1, qty_invoiced=3, qty_refunded=2)],
                     updated="2024-01-10 10:00:00")
    assert ingest(engine, [event("r", refunded)], POLICY) == {"r": "applied"}
    assert ingest(engine, [event("i", invoiced)], POLICY) == {"i": "stale"}
    assert stored_pairs(engine)[("1", "A")][0] == Decimal(1)


def test_batch_with_several_snapshots_of_one_order(engine):
    a = order(1, [item(1, "A", 3, 1)], updated="2024-01-10 10:00:00")
    b = order(1, [item(1, "A", 3, 1, qty_canceled=3)], state="canceled",
              updated="2024-01-10 11:00:00")
    out = ingest(engine, [event("b", b), event("a", a)], POLICY)
    assert out == {"a": "stale", "b": "applied"}
    assert stored_pairs(engine) == {}


def test_configurable_counts_the_child_with_the_parent_amount(engine):
    items = [
        item(10, "SHIRT", 2, 25, product_type="configurable", qty_refunded=1),
        item(11, "SHIRT-RED-M", 2, 0, parent_item_id=10),
        item(12, "MUG", 1, 7),
    ]
    body = order(5, items)
    ingest(engine, [event("e", body)], POLICY)
    pairs = stored_pairs(engine)
    assert set(pairs) == {("1", "SHIRT-RED-M"), ("1", "MUG")}
    # The parent's refund applies to the child; amount = parent's row_total * 1/2.
    assert pairs[("1", "SHIRT-RED-M")][:2] == (Decimal(1), Decimal(25))
    products = {p.sku: p for p in rows(engine, Product)}
    assert products["SHIRT-RED-M"].price == Decimal(25)

    parent_level = Policy(sku_level="parent")
    assert rebuild_interactions(engine, parent_level) == 2
    assert set(stored_pairs(engine)) == {("1", "SHIRT"), ("1", "MUG")}
    assert normalise(stored_pairs(engine)) == normalise(expected_pairs([body], parent_level))


def test_guests_hashed_or_skipped_and_deleted_customer_moves(engine):
    guest = order(7, [item(1, "A", 1, 2)], customer_id=None, email=" Anna@Example.com ",
                  guest=True)
    ingest(engine, [event("g", guest)], POLICY)
    key = guest_key("anna@example.com", POLICY.guest_salt)
    assert key.startswith("g:") and "anna" not in key
    assert set(stored_pairs(engine)) == {(key, "A")}
    assert rebuild_interactions(engine, Policy(guest_policy="skip")) == 0
    rebuild_interactions(engine, POLICY)

    # A registered customer is deleted in Magento: customer_id becomes NULL.
    registered = order(8, [item(2, "B", 1, 2)], customer_id=42, email="anna@example.com")
    ingest(engine, [event("r1", registered)], POLICY)
    assert ("42", "B") in stored_pairs(engine)
    deleted = registered | {"customer_id": None, "updated_at": "2024-01-12 00:00:00"}
    ingest(engine, [event("r2", deleted)], POLICY)
    assert set(stored_pairs(engine)) == {(key, "A"), (key, "B")}


def test_uncounted_states_count_once_they_move_on(engine):
    pending = order(3, [item(1, "A", 1, 2)], state="pending_payment")
    ingest(engine, [event("p", pending)], POLICY)
    assert stored_pairs(engine) == {}
    paid = pending | {"state": "processing", "updated_at": "2024-01-10 10:05:00"}
    ingest(engine, [event("q", paid)], POLICY)
    assert set(stored_pairs(engine)) == {("1", "A")}
    assert rebuild_interactions(engine, Policy(uncounted_states=frozenset({"processing"}))) == 0
    with pytest.raises(ValueError, match="unknown order states"):
        Policy(uncounted_states=frozenset({"paid"}))


def test_vanished_lines_are_removed(engine):
    ingest(engine, [event("a", order(1, [item(1, "A", 1), item(2, "B", 1)]))], POLICY)
    later = order(1, [item(1, "A", 1)], updated="2024-01-10 12:00:00")
    ingest(engine, [event("b", later)], POLICY)
    assert [r.item_id for r in rows(engine, OrderLine)] == [1]
    assert set(stored_pairs(engine)) == {("1", "A")}


def test_invalid_batch_writes_nothing(engine):
    good = event("ok", order(1, [item(1, "A", 1)]))
    bad = event("bad", order(2, [item(1, "B", -1)]))
    with pytest.raises(SnapshotError) as err:
        ingest(engine, [good, bad], POLICY)
    assert "[1].order.items.0.qty_ordered" in str(err.value)
    assert rows(engine, Event) == [] and rows(engine, Order) == []


@pytest.mark.parametrize(
    "sku", ["Ab", "\u00c9-1", "E\u0301-1", "\U0001f37a beer", "\u9577\u3044", "x" * 64, "a  b"]
)
def test_odd_skus_stored_verbatim(engine, sku):
    ingest(engine, [event("e", order(1, [item(1, sku, 1, 1), item(2, sku.swapcase(), 1, 1)]))],
           POLICY)
    expected = {sku, sku.swapcase()}
    assert {r.sku for r in rows(engine, OrderLine)} == expected
    assert {k[1] for k in stored_pairs(engine)} == expected


def test_catalogue_info_older_never_overwrites(engine):
    body = order(1, [item(1, "A", 1, 2, name="Alpha")], updated="2024-01-10 10:00:00")
    newer = event("n", body, occurred_at="2024-02-01T00:00:00Z",
                  products=[{"sku": "A", "url": "https://shop/a-new", "in_stock": False}])
    older = event("o", body, occurred_at="2024-01-20T00:00:00Z",
                  products=[{"sku": "A", "url": "https://shop/a-old", "in_stock": True,
                             "enabled": True}])
    ingest(engine, [newer], POLICY)
    ingest(engine, [older], POLICY)
    (p,) = rows(engine, Product)
    assert (p.name, p.url, p.in_stock, p.enabled) == ("Alpha", "https://shop/a-new", False, None)
    assert p.info_at == datetime(2024, 2, 1)


def test_receive_then_process(engine):
    body = json.dumps(event("w1", order(1, [item(1, "A", 1, 2)]))).encode()
    ev, new = receive(engine, body)
    assert (ev.event_id, new) == ("w1", True)
    assert receive(engine, body)[1] is False
    assert pending_event_ids(engine) == ["w1"]
    (stored,) = rows(engine, Event)
    assert stored.payload == body.decode()  # kept verbatim for audit and replay
    assert process(engine, ["w1", "nope"], POLICY) == {"w1": "applied", "nope": "missing"}
    assert process(engine, ["w1"], POLICY) == {"w1": "duplicate"}
    assert pending_event_ids(engine) == []
    assert set(stored_pairs(engine)) == {("1", "A")}


@pytest.mark.parametrize("autocommit", [True, False])
def test_receive_is_one_insert_and_a_resend_changes_nothing(engine, autocommit):
    """The unique event_id index alone refuses a resend (no SELECT first), on the webhook's
    autocommit engine as on a plain one: answered not new, the stored row untouched."""
    target = make_engine(url_of(engine), autocommit=True) if autocommit else engine
    try:
        first = json.dumps(event("w1", order(1, [item(1, "A", 1, 2)]))).encode()
        assert receive(target, first)[1] is True
        (before,) = rows(engine, Event)
        resend = json.dumps(event("w1", order(1, [item(1, "A", 5, 2)], state="canceled")))
        ev, new = receive(target, resend.encode())
        assert (ev.event_id, new) == ("w1", False)
        assert rows(engine, Event) == [before]  # payload, receipt time, status: all as they were
        assert receive(target, json.dumps(event("w2", order(2, [item(1, "B", 1)]))))[1] is True
        assert pending_event_ids(engine) == ["w1", "w2"]
    finally:
        if target is not engine:
            target.dispose()


def test_receive_on_the_autocommit_engine_survives_a_dropped_connection(engine, backend):
    """No ping before the INSERT: a pooled connection the server dropped (a restart, a
    timeout) fails the INSERT, which runs again once on a fresh connection."""
    if backend != "mariadb":
        pytest.skip("SQLite has no server to drop a connection")
    target = make_engine(url_of(engine), autocommit=True)
    try:
        assert receive(target, event("k1", order(1, [item(1, "A", 1)])))[1] is True
        with target.connect() as conn:
            pooled = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
        with engine.connect() as conn:
            conn.exec_driver_sql(f"KILL {int(pooled)}")
        assert receive(target, event("k2", order(2, [item(1, "B", 1)])))[1] is True
        assert receive(target, event("k2", order(2, [item(1, "B", 1)])))[1] is False
        assert pending_event_ids(engine) == ["k1", "k2"]
    finally:
        target.dispose()


def test_process_marks_undecodable_payload_failed(engine):
    receive(engine, event("f", order(1, [item(1, "A", 1)])))
    with engine.begin() as conn:
        conn.execute(update(Event.__table__).values(payload='{"event_id": "f"}'))
    assert process(engine, ["f"], POLICY) == {"f": "failed"}
    (stored,) = rows(engine, Event)
    assert stored.status == "failed" and "order: Field required" in stored.error


def test_applied_events_are_compact_and_replay_keeps_their_keys(engine):
    guest = order(7, [item(1, "A", 1, 2)], customer_id=None, email="G@Example.com", guest=True)
    raw = {**event("g", guest), "billing_address": {"street": "1 Main St"}}
    raw["order"]["customer_firstname"] = "Ann"
    ingest(engine, [json.dumps(raw).encode()], POLICY)  # the body as received
    (stored,) = rows(engine, Event)
    key = guest_key("g@example.com", POLICY.guest_salt)
    assert stored.customer_key == key
    for trace in ("example.com", "Main St", "Ann", "billing"):
        assert trace.lower() not in stored.payload.lower()
    assert json.loads(stored.payload)["order"]["items"][0]["sku"] == "A"
    # The email is gone: a new salt cannot re-key the guest; the recorded key stays.
    assert replay(engine, Policy(guest_salt="new-salt")) == 1
    assert set(stored_pairs(engine)) == {(key, "A")}


def test_an_orders_session_is_kept_by_later_snapshots_and_by_replay(engine):
    """The browser session an order was placed from (attribution) is stored, kept when a later
    snapshot (an admin's refund) omits it, kept in the compact payload, and survives a replay
    into emptied order tables."""
    session = "s.Zm9vYmFyYmF6cXV4cXV1eA.0123456789abcdef0123"
    placed = order(8, [item(1, "A", 2)], customer_id=None, email="g@example.com", guest=True)
    placed["session_id"] = session
    refund = order(8, [item(1, "A", 2, qty_refunded="1")], customer_id=None,
                   email="g@example.com", guest=True, updated="2024-01-10 11:00:00")
    ingest(engine, [event("s1", placed)], POLICY)
    ingest(engine, [event("s2", refund)], POLICY)

    def stored_session():
        return rows(engine, Order)[0].session_id

    assert stored_session() == session
    payloads = {e.event_id: json.loads(e.payload) for e in rows(engine, Event)}
    assert payloads["s1"]["order"]["session_id"] == session
    assert "session_id" not in payloads["s2"]["order"]
    with engine.begin() as conn:
        conn.execute(OrderLine.__table__.delete())
        conn.execute(Order.__table__.delete())
    assert replay(engine, POLICY) == 2
    assert stored_session() == session
    assert [line.effective_qty for line in rows(engine, OrderLine)] == [Decimal(1)]

    # Out of order: the refund first, the placement (with the session) late and stale.
    ingest(engine, [event("t2", {**refund, "entity_id": 9, "increment_id": "9"})], POLICY)
    outcome = ingest(engine, [event("t1", {**placed, "entity_id": 9, "increment_id": "9"})],
                     POLICY)
    assert outcome == {"t1": "stale"}
    (late,) = rows(engine, Order, Order.entity_id == 9)
    assert late.session_id == session and late.updated_at == datetime(2024, 1, 10, 11)


def test_compact_body_parses_back_to_the_snapshot_without_the_email():
    from storage.ingestion import compact_body
    from storage.snapshot import parse_event

    full = parse_event(event("c", order(3, [item(1, "A", 2, "1.5", qty_canceled="1"),
                                            item(2, "B", 1, 0, parent_item_id=1)]),
                             products=[{"sku": "A", "in_stock": False}]))
    back = parse_event(compact_body(full))
    assert back.order.customer_email is None
    assert back.model_dump() == full.model_copy(
        update={"order": full.order.model_copy(update={"customer_email": None})}).model_dump()
