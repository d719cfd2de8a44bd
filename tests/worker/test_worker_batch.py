"""Batched ingestion in the live loop (issue #17), on the real SQLite database and Redis: one
task applies every pending event, refreshes each customer once, and the other tasks of the
batch are no-ops; a batch whose refresh did not happen is repaired by the next task."""

from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy import select, update

from storage import failures, ingestion
from storage.models import Event, Interaction
from worker import events, live, publish
from worker.runtime import Runtime


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def pairs(rt) -> dict:
    with rt.reading() as session:
        return {(k, s): float(q) for k, s, q in session.execute(
            select(Interaction.customer_key, Interaction.sku, Interaction.qty))}


def record_mix(record, make_event) -> list[str]:
    """Five events of two customers: 42's order 1001 canceled (the cancel delivered before
    the order it cancels) and order 1002 refunded in part; 7's order 2001."""
    return [
        record(make_event("cancel", entity_id=1001, state="canceled", minutes_ago=1,
                          lines={"SKU-A": (1, 1), "SKU-B": (2, 2)})),
        record(make_event("placed", entity_id=1001, minutes_ago=9,
                          lines={"SKU-A": 1, "SKU-B": 2})),
        record(make_event("second", entity_id=1002, minutes_ago=8, lines={"SKU-C": 3})),
        record(make_event("refund", entity_id=1002, minutes_ago=2, lines={"SKU-C": (3, 1)})),
        record(make_event("other", entity_id=2001, customer_id=7, minutes_ago=5,
                          lines={"SKU-A": 1})),
    ]


def test_one_task_applies_the_batch_and_refreshes_each_customer_once(rt, r, record,
                                                                     make_event, status):
    ids = record_mix(record, make_event)
    refreshes = sample("dmfrec_worker_customer_refreshes_total")
    batched = sample("dmfrec_worker_batch_events_sum")
    summary = live.process_event(rt, "refund")
    assert summary == {"event_id": "refund", "outcome": "applied", "customers": ["42", "7"],
                       "applied": 4}  # "placed" is older than the cancel stored before it
    assert {e: status(e) for e in ids} == {"cancel": "applied", "placed": "stale",
                                           "second": "applied", "refund": "applied",
                                           "other": "applied"}
    assert sample("dmfrec_worker_customer_refreshes_total") - refreshes == 2
    assert sample("dmfrec_worker_batch_events_sum") - batched == 5
    assert r.smembers(publish.bought_key("42")) == {"SKU-C"}
    assert r.smembers(publish.bought_key("7")) == {"SKU-A"}
    assert pairs(rt) == {("42", "SKU-C"): 2.0, ("7", "SKU-A"): 1.0}

    # Every other task of the batch (and a redelivery of the first) is a no-op.
    before = pairs(rt)
    for event_id in ids:
        again = live.process_event(rt, event_id)
        assert (again["outcome"], again["applied"], again["customers"]) == ("duplicate", 0, [])
    assert sample("dmfrec_worker_customer_refreshes_total") - refreshes == 2
    assert pairs(rt) == before and {e: status(e) for e in ids}["placed"] == "stale"


def test_the_same_events_one_by_one_end_alike(rt, r, record, make_event, settings):
    rt.settings = settings.model_copy(update={"ingest_batch": 1})
    ids = record_mix(record, make_event)
    refreshes = sample("dmfrec_worker_customer_refreshes_total")
    outcomes = [live.process_event(rt, e)["outcome"] for e in ids]
    assert outcomes == ["applied", "stale", "applied", "applied", "applied"]
    # One per task that changed a pair: the cancel, delivered before its order, counts no
    # line, so it leaves every list as it was and refreshes no one.
    assert sample("dmfrec_worker_customer_refreshes_total") - refreshes == 3
    assert pairs(rt) == {("42", "SKU-C"): 2.0, ("7", "SKU-A"): 1.0}
    assert r.smembers(publish.bought_key("42")) == {"SKU-C"}


def test_a_batch_applied_but_not_refreshed_is_repaired_by_the_next_task(rt, r, record,
                                                                      make_event):
    """The worker died between the batch's commit and its refresh: the batch's tasks find
    their events applied without the refreshed mark, and refresh their customers."""
    ids = record_mix(record, make_event)
    batch = ingestion.process_batch(rt.engine, "refund", 64, rt.policy)
    assert len(batch.outcomes) == 5 and not r.exists(publish.bought_key("7"))
    summary = live.process_event(rt, "other")
    assert (summary["outcome"], summary["customers"]) == ("duplicate", ["7"])
    assert r.smembers(publish.bought_key("7")) == {"SKU-A"}
    assert events.was_refreshed(r, "other") and not events.was_refreshed(r, "refund")
    assert live.process_event(rt, "refund")["customers"] == ["42"]
    assert r.smembers(publish.bought_key("42")) == {"SKU-C"}
    with rt.reading() as session:
        assert session.scalar(select(Event.status).where(Event.event_id == ids[0])) == "applied"


def test_the_tasks_of_a_refreshed_batch_never_read_the_database(rt, r, record, make_event):
    """Under a backlog most tasks find their event applied by another task's batch: they end
    on its Redis mark alone, so a database that is unreachable now is never asked."""
    ids = record_mix(record, make_event)
    live.process_event(rt, "refund")
    assert all(events.was_refreshed(r, e) for e in ids)  # applied and stale ones
    down = Runtime.from_settings(rt.settings.model_copy(
        update={"database_url": "mysql+pymysql://root@127.0.0.1:1/unreachable"}))
    try:
        for event_id in ids:
            assert live.process_event(down, event_id)["outcome"] == "duplicate"
    finally:
        down.engine.dispose()


def test_a_failed_event_is_not_marked_so_its_retry_applies(rt, r, record, make_event):
    """Failed events stay unmarked: once an operator sends one back to pending (`dmfrec
    events --retry`), its task applies it instead of ending on a mark."""
    record(make_event("lost", entity_id=3001, lines={"SKU-D": 1}))
    with rt.engine.begin() as conn:
        conn.execute(update(Event).where(Event.event_id == "lost")
                     .values(status="failed", attempts=3, error="test"))
    assert live.process_event(rt, "lost")["outcome"] == "duplicate"
    assert not events.was_refreshed(r, "lost")
    assert failures.retry_failed(rt.engine, ["lost"]) == ["lost"]
    assert live.process_event(rt, "lost")["outcome"] == "applied"
    assert events.was_refreshed(r, "lost")
    assert r.smembers(publish.bought_key("42")) == {"SKU-D"}


def test_a_task_whose_event_another_batch_applied_looks_again_later(rt, r, record, make_event):
    """Two workers: one task's batch took this task's event (committed, its refresh not done
    yet). With `defer` (the Celery task's "look again later") the task neither refreshes the
    customers again nor marks the event: it ends `held`; the later look repairs what that
    batch left undone, or finds the mark and reads nothing."""
    record_mix(record, make_event)
    ingestion.process_batch(rt.engine, "refund", 64, rt.policy)  # the other worker's batch
    later: list[str] = []

    def defer(event_id: str) -> bool:
        later.append(event_id)
        return True

    refreshes = sample("dmfrec_worker_customer_refreshes_total")
    summary = live.process_event(rt, "other", defer=defer)
    assert (summary["outcome"], summary["customers"], summary["applied"]) == ("held", [], 0)
    assert later == ["other"] and not events.was_refreshed(r, "other")
    assert sample("dmfrec_worker_customer_refreshes_total") == refreshes
    assert not r.exists(publish.bought_key("7"))
    # The later look (no defer): the batch's task never refreshed, so this one repairs.
    assert live.process_event(rt, "other")["customers"] == ["7"]
    assert r.smembers(publish.bought_key("7")) == {"SKU-A"}
    assert events.was_refreshed(r, "other")


def test_a_task_that_cannot_send_its_later_look_refreshes_now(rt, r, record, make_event):
    """`defer` False (the broker refused the message): the task does the work itself."""
    record_mix(record, make_event)
    ingestion.process_batch(rt.engine, "refund", 64, rt.policy)
    summary = live.process_event(rt, "other", defer=lambda _event_id: False)
    assert (summary["outcome"], summary["customers"]) == ("duplicate", ["7"])
    assert r.smembers(publish.bought_key("7")) == {"SKU-A"}


def test_an_event_that_failed_before_is_never_deferred(rt, r, record, make_event):
    """An event with failed attempts is never claimed by a batch: its own task applies it."""
    record(make_event("lost", entity_id=3001, lines={"SKU-D": 1}))
    with rt.engine.begin() as conn:
        conn.execute(update(Event).where(Event.event_id == "lost").values(attempts=1))
    later: list[str] = []
    summary = live.process_event(rt, "lost", defer=lambda e: later.append(e) or True)
    assert summary["outcome"] == "applied" and later == []
    assert r.smembers(publish.bought_key("42")) == {"SKU-D"}
