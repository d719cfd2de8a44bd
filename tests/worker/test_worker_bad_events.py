"""Bad events end `failed` after DMFREC_EVENT_MAX_ATTEMPTS, are counted in /metrics, listed and
retried by `dmfrec events`, and never starve the pending sweep (real MariaDB and Redis)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import insert, select, text

from cli.main import main
from config.settings import Settings
from storage import schema
from storage.ingestion import receive, utcnow
from storage.models import Event
from tests.conftest import TEST_REDIS_URL
from tests.storage.storage_dbs import MariaDB
from webhook import metrics
from worker import events, live
from worker.celery_app import make_celery
from worker.runtime import Runtime


@pytest.fixture(scope="module")
def server():
    db = MariaDB()
    yield db
    db.drop_all()


@pytest.fixture
def mrt(server, tmp_path: Path, r) -> Runtime:
    """A worker runtime on a fresh, migrated MariaDB database and the test Redis."""
    url = server.new_database("bad_")
    schema.upgrade(url)
    settings = Settings(database_url=url, redis_url=TEST_REDIS_URL, broker_url=TEST_REDIS_URL,
                        model_dir=tmp_path / "models", publish_n=10, popular_refresh_s=0,
                        pending_after_s=0, event_max_attempts=3)
    rt = Runtime.from_settings(settings)
    yield rt
    rt.engine.dispose()
    rt.redis.close()


def _event(rt: Runtime, event_id: str) -> Event:
    with rt.reading() as session:
        return session.scalars(select(Event).where(Event.event_id == event_id)).one()


def _overflowing(make_event, event_id: str) -> dict:
    """Eleven lines of one SKU at 9.9e14 each: their sum leaves interactions.amount's
    DECIMAL(20,4) on MariaDB (the snapshot itself is valid)."""
    body = make_event(event_id, entity_id=3001, customer_id=77)
    body["order"]["items"] = [
        {"item_id": 300100 + k, "sku": "GOLD", "qty_ordered": 1, "price": "990000000000000",
         "row_total": "990000000000000"} for k in range(11)]
    return body


def test_a_refused_event_ends_failed_is_counted_listed_and_retried(mrt, r, make_event, queued,
                                                                   capsys, monkeypatch):
    bad, _ = receive(mrt.engine, json.dumps(_overflowing(make_event, "bad-1")))
    good, _ = receive(mrt.engine, json.dumps(make_event("good-1", entity_id=3002)))
    outcomes = [live.process_event(mrt, bad.event_id)["outcome"] for _ in range(3)]
    assert outcomes == ["pending", "pending", "failed"]
    # The first call's batch held both and failed; each was then tried alone: the good event
    # applied at once, only the bad one was counted.
    assert _event(mrt, "good-1").status == "applied" and _event(mrt, "good-1").attempts == 0
    stored = _event(mrt, "bad-1")
    assert stored.status == "failed" and stored.attempts == 3
    assert "Out of range value for column 'amount'" in stored.error
    assert live.process_event(mrt, bad.event_id)["outcome"] == "duplicate"  # finalised
    assert live.process_event(mrt, good.event_id)["outcome"] == "duplicate"  # batched already

    exposition = metrics.render(mrt.engine)[0].decode()
    assert 'dmfrec_events{status="failed"} 1.0' in exposition
    assert 'dmfrec_events{status="pending"} 0.0' in exposition

    url = mrt.settings.database_url
    assert main(["events", "--failed", "--db-url", url]) == 0
    listed = capsys.readouterr().out
    assert "bad-1\torder 3001" in listed and "attempts 3" in listed and "Out of range" in listed

    # The fix: a wider column. Then the retry hands the event to the real broker again.
    with mrt.engine.begin() as conn:
        conn.execute(text("ALTER TABLE interactions MODIFY amount DECIMAL(30,4) NOT NULL"))
    monkeypatch.setenv("DMFREC_REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("DMFREC_BROKER_URL", TEST_REDIS_URL)
    from config import get_settings

    get_settings.cache_clear()
    try:
        assert main(["events", "--retry", "bad-1", "--retry", "good-1", "--db-url", url]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "not failed (left alone): good-1" in out and "1 event(s) back to pending" in out
    assert queued() == [["bad-1"]]
    assert (_event(mrt, "bad-1").status, _event(mrt, "bad-1").attempts) == ("pending", 0)
    assert live.process_event(mrt, "bad-1")["outcome"] == "applied"
    assert r.smembers("dmfrec:bought:77") == {"GOLD"}
    assert 'dmfrec_events{status="failed"} 0.0' in metrics.render(mrt.engine)[0].decode()


def test_retry_of_nothing_failed_is_an_error(mrt, capsys):
    assert main(["events", "--retry", "nope", "--db-url", mrt.settings.database_url]) == 1
    assert "not failed (left alone): nope" in capsys.readouterr().out
    assert main(["events", "--all-failed", "--db-url", mrt.settings.database_url]) == 0
    assert "0 event(s) back to pending" in capsys.readouterr().out
    assert main(["events", "--failed", "--limit", "0"]) == 2  # a CLI error, nothing run
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_a_redis_outage_is_retried_not_counted(mrt, make_event):
    """Redis down: the task fails at its first step (the refreshed mark) and is retried; the
    event is not at fault, stays pending uncounted, and applies once Redis is back."""
    ev, _ = receive(mrt.engine, json.dumps(make_event("o-1", entity_id=3003)))
    down = Runtime.from_settings(mrt.settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        with pytest.raises(redis_lib.ConnectionError):
            live.process_event(down, ev.event_id)
    finally:
        down.engine.dispose()
    stored = _event(mrt, "o-1")
    assert (stored.status, stored.attempts, stored.error) == ("pending", 0, None)
    assert live.process_event(mrt, ev.event_id)["outcome"] == "applied"


def test_the_sweep_reaches_a_newer_lost_event_behind_1500_stuck_and_1500_failed(mrt, r,
                                                                                queued):
    old = utcnow() - timedelta(hours=2)

    def rows(prefix: str, status: str, attempts: int) -> list[dict]:
        return [{"event_id": f"{prefix}-{k:04d}", "order_id": 9000 + k,
                 "order_updated_at": old, "received_at": old + timedelta(seconds=k),
                 "status": status, "attempts": attempts, "error": "DataError: out of range",
                 "payload": "{}"} for k in range(1500)]

    stuck = rows("stuck", "pending", 2)  # keep failing; each was sent again recently
    with mrt.engine.begin() as conn:
        conn.execute(insert(Event), rows("failed", "failed", 3))
        conn.execute(insert(Event), stuck)
    r.mset({events.marker_key(e["event_id"]): "1" for e in stuck})
    _, new = receive(mrt.engine, json.dumps({
        "event_id": "lost-1", "order": {"entity_id": 1, "increment_id": "1",
                                        "state": "processing", "created_at": "2026-01-01",
                                        "updated_at": "2026-01-01",
                                        "items": [{"item_id": 1, "sku": "A",
                                                   "qty_ordered": 1}]}}))
    assert new
    assert live.enqueue_pending(mrt, make_celery(mrt.settings)) == 1  # one sweep
    assert queued() == [["lost-1"]]
