"""Fewer messages than events (issue 17): a new event is sent only while no sent ingest task
has started (worker.events.send_new); each task clears that flag when it starts and drains
what is pending (worker.live.drain), so the events whose sends were skipped are applied too.
Real Redis (broker and lists), real SQLite, real Celery sends."""

from __future__ import annotations

from worker import events, live, publish
from worker.celery_app import make_celery


def test_events_sent_while_a_task_waits_ride_on_its_drain(rt, r, record, status, make_event,
                                                          queued, settings):
    up = make_celery(settings)
    ids = [record(make_event(f"d{k}", entity_id=4000 + k, customer_id=60 + k,
                             lines={f"SKU-{k}": 1})) for k in range(3)]
    sent = [events.send_new(up, r, e) for e in ids]
    assert sent == ["sent", "coalesced", "coalesced"]
    assert queued() == [["d0"]]  # one message for three events
    # What that message's task does (worker.tasks.ingest_event): clear the flag, then its own
    # event, then drain until a claim finds nothing.
    rt.settings = settings.model_copy(update={"ingest_batch": 1})  # one event a batch
    summary = live.process_event(rt, "d0", resume=lambda: False)
    assert summary["applied"] == 3
    assert [status(e) for e in ids] == ["applied"] * 3
    for k in range(3):
        assert r.smembers(publish.bought_key(str(60 + k))) == {f"SKU-{k}"}
    assert all(events.was_refreshed(r, e) for e in ids)
    # The flag was cleared when the task started: the next event is sent again.
    later = record(make_event("d3", entity_id=4003, customer_id=63))
    assert events.send_new(up, r, later) == "sent"
    assert queued() == [["d0"], ["d3"]]


def test_a_direct_call_neither_clears_the_flag_nor_drains(rt, r, record, status, make_event,
                                                          settings):
    """Without `resume` (a direct caller, not the Celery task) one event and its batch only:
    the flag stays, since no drain follows that would claim what its sends skipped."""
    up = make_celery(settings)
    rt.settings = settings.model_copy(update={"ingest_batch": 1})
    for k in range(2):
        events.send_new(up, r, record(make_event(f"x{k}", entity_id=4100 + k)))
    assert live.process_event(rt, "x0")["applied"] == 1
    assert status("x1") == "pending"
    assert r.exists(events.WAKE_KEY) == 1


def test_a_send_the_broker_refuses_clears_the_flag(rt, r, record, settings, make_event):
    down = make_celery(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}),
                       fail_fast=True)
    assert events.send_new(down, r, record(make_event("f1"))) == "failed"
    # Nothing was sent, so nothing would clear the flag: later events must be sent.
    assert r.exists(events.WAKE_KEY) == 0


def test_a_drain_past_its_budget_hands_the_rest_over(rt, r, record, status, make_event,
                                                     settings, monkeypatch):
    rt.settings = settings.model_copy(update={"ingest_batch": 1})
    ids = [record(make_event(f"h{k}", entity_id=4200 + k, customer_id=70 + k))
           for k in range(3)]
    handed = []
    monkeypatch.setattr(live, "DRAIN_BUDGET_S", 0.0)  # past its budget from the start
    assert live.drain(rt, resume=lambda: handed.append(1) or True) == 0
    assert handed == [1] and [status(e) for e in ids] == ["pending"] * 3
    # The task it handed over to (worker.tasks.drain_ingest) drains them all.
    r.set(events.WAKE_KEY, "1")
    assert live.drain_pending(rt) == 3
    assert [status(e) for e in ids] == ["applied"] * 3
    assert r.exists(events.WAKE_KEY) == 0
    # A resume the broker refused: the drain goes on itself.
    more = record(make_event("h3", entity_id=4203, customer_id=73))
    assert live.drain(rt, resume=lambda: False) == 1
    assert status(more) == "applied"
