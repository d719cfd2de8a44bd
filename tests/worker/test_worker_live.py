"""The live loop on real services: ingest, bought sets, popular lists, hidden SKUs, re-enqueue."""

from __future__ import annotations

from sqlalchemy import update

from storage.models import Event
from worker import events, live, publish
from worker.celery_app import make_celery


def test_event_is_applied_and_customer_state_published(rt, r, record, status, make_event):
    event_id = record(make_event("e1", lines={"SKU-A": 2, "SKU-B": 1}))
    assert status(event_id) == "pending"
    summary = live.process_event(rt, event_id)
    assert summary == {"event_id": "e1", "outcome": "applied", "customers": ["42"], "applied": 1}
    assert status(event_id) == "applied"
    assert r.smembers(publish.bought_key("42")) == {"SKU-A", "SKU-B"}
    assert dict(publish.read_popular(r)) == {"SKU-A": 1.0, "SKU-B": 1.0}


def test_redelivered_task_changes_nothing(rt, r, record, status, make_event):
    event_id = record(make_event("e1"))
    live.process_event(rt, event_id)
    again = live.process_event(rt, event_id)
    assert again["outcome"] == "duplicate"
    assert status(event_id) == "applied"
    assert r.smembers(publish.bought_key("42")) == {"SKU-A"}


def test_missing_event(rt):
    assert live.process_event(rt, "nope")["outcome"] == "missing"


def test_cancel_removes_the_purchase_everywhere(rt, r, record, make_event):
    live.process_event(rt, record(make_event("e1", lines={"SKU-A": 1, "SKU-B": 1})))
    live.process_event(rt, record(make_event("e2", customer_id=7, entity_id=2002,
                                             lines={"SKU-A": 1})))
    assert publish.read_popular(r)[0] == ("SKU-A", 2.0)
    # Order 1001 is canceled later: customer 42 owns nothing, SKU-B leaves the popular list.
    live.process_event(rt, record(make_event("e3", state="canceled", minutes_ago=1,
                                             lines={"SKU-A": (1, 1), "SKU-B": (1, 1)})))
    assert r.smembers(publish.bought_key("42")) == set()
    assert publish.read_popular(r) == [("SKU-A", 1.0)]


def test_out_of_order_delivery_does_not_resurrect(rt, r, record, make_event):
    cancel = make_event("late-cancel", state="canceled", minutes_ago=1, lines={"SKU-A": (1, 1)})
    placed = make_event("early-placed", minutes_ago=10, lines={"SKU-A": 1})
    assert live.process_event(rt, record(cancel))["outcome"] == "applied"
    assert live.process_event(rt, record(placed))["outcome"] == "stale"
    assert r.smembers(publish.bought_key("42")) == set()


def test_customer_deleted_in_magento_loses_the_purchases(rt, r, record, make_event):
    live.process_event(rt, record(make_event("e1")))
    summary = live.process_event(rt, record(make_event("e2", customer_id=None, minutes_ago=1)))
    assert "42" in summary["customers"] and len(summary["customers"]) == 2
    assert r.smembers(publish.bought_key("42")) == set()


def test_popular_refresh_is_throttled(rt, r, record, make_event, settings):
    live.process_event(rt, record(make_event("e1")))
    rt.settings = settings.model_copy(update={"popular_refresh_s": 60})
    assert live.refresh_popular(rt) is True
    assert live.refresh_popular(rt) is False
    assert live.refresh_popular(rt, force=True) is True


def test_hidden_skus_follow_the_product_table(rt, r, record, make_event):
    products = [{"sku": "SKU-A", "enabled": False}, {"sku": "SKU-B", "in_stock": False},
                {"sku": "SKU-C", "enabled": True, "in_stock": True}]
    live.process_event(rt, record(make_event("e1", products=products)))
    assert live.refresh_hidden_skus(rt) == 2
    assert r.smembers(publish.HIDDEN_SKUS) == {"SKU-A", "SKU-B"}
    # The Magento module's catalogue sync also says whether a SKU is visible.
    from storage.catalog import apply_catalog, parse_catalog
    apply_catalog(rt.engine, parse_catalog({"event_id": "p1", "occurred_at": "2030-01-01T00:00:00Z",
                                            "products": [{"sku": "SKU-C", "visible": False}]}))
    assert live.refresh_hidden_skus(rt) == 3
    assert r.smembers(publish.HIDDEN_SKUS) == {"SKU-A", "SKU-B", "SKU-C"}


def test_enqueue_pending_hands_events_to_the_real_broker(rt, r, record, make_event, queued,
                                                         settings):
    record(make_event("p1"))
    record(make_event("p2", entity_id=2002))
    down = make_celery(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}),
                       fail_fast=True)
    assert live.enqueue_pending(rt, down) == 0
    assert queued() == []
    up = make_celery(settings)
    assert live.enqueue_pending(rt, up) == 2
    assert queued() == [["p1"], ["p2"]]
    rt.settings = settings.model_copy(update={"ingest_batch": 1})  # p1 alone: p2 stays pending
    live.process_event(rt, "p1")
    # p2 is still pending but was sent a moment ago: a backlog is not re-sent every minute.
    assert live.enqueue_pending(rt, up) == 0
    r.delete(events.marker_key("p2"))  # the mark expired, but messages still wait: their
    assert live.enqueue_pending(rt, up) == 0  # batches claim p2 (the oldest pending)
    r.delete("ingest")  # the messages were lost: now p2 is sent again
    assert live.enqueue_pending(rt, up) == 1
    assert queued() == [["p2"]]


def test_the_sweep_does_not_double_what_the_webhook_queued(rt, r, record, make_event, queued,
                                                          settings):
    """The webhook sends each event once with no mark. While the ingest queue holds messages
    the sweep sends none of the events never failed (a batch claims the oldest), only those
    that failed before (no batch claims them); once the queue is empty, whatever is still
    pending is sent, once."""
    up = make_celery(settings)
    for k, eid in enumerate(("w1", "w2", "w3")):
        record(make_event(eid, entity_id=3000 + k))
        events.enqueue(up, eid)  # what the webhook does: no mark
    with rt.engine.begin() as conn:  # w3 failed once already (storage.failures)
        conn.execute(update(Event).where(Event.event_id == "w3").values(attempts=1))
    assert r.exists(*(events.marker_key(e) for e in ("w1", "w2", "w3"))) == 0
    assert live.enqueue_pending(rt, up) == 1
    assert queued() == [["w1"], ["w2"], ["w3"], ["w3"]]
    for _ in range(3):  # every later sweep: nothing more while the mark lives
        assert live.enqueue_pending(rt, up) == 0
    r.delete("ingest")  # the queue is empty (its tasks lost): the pending ones, once
    assert live.enqueue_pending(rt, up) == 2
    assert live.enqueue_pending(rt, up) == 0
    assert queued() == [["w1"], ["w2"]]
    live.process_event(rt, "w1")  # batches claim w1 and w2 (w3 failed before: never claimed)
    assert {e for e in ("w1", "w2", "w3") if live.process_event(rt, e)["outcome"] == "duplicate"
            } == {"w1", "w2"}
