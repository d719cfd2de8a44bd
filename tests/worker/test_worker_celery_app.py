"""Celery configuration, and a real worker process consuming the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_GUEST_SALT, stop
from webhook import create_app, signing
from worker import publish
from worker.celery_app import INGEST_QUEUE, TASK_ROUTES, TRAIN_QUEUE, app

REPO = Path(__file__).resolve().parents[2]


def test_configuration():
    import worker.tasks  # noqa: F401  (registers the tasks)

    conf = app.conf
    assert {q.name for q in conf.task_queues} == {INGEST_QUEUE, TRAIN_QUEUE}
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.broker_transport_options["visibility_timeout"] >= 6 * 3600
    assert len(conf.beat_schedule) == 10  # issue 18: analytics-roll-up
    for entry in conf.beat_schedule.values():
        assert entry["task"] in app.tasks
        assert TASK_ROUTES[entry["task"]]["queue"] in (INGEST_QUEUE, TRAIN_QUEUE)
    assert TASK_ROUTES["worker.tasks.ingest_event"]["queue"] == INGEST_QUEUE
    for name in ("nightly_retrain", "fine_tune", "publish_version"):
        assert TASK_ROUTES[f"worker.tasks.{name}"]["queue"] == TRAIN_QUEUE
    for name in ("restore_redis", "scrub_artifacts", "retention"):  # never behind training
        assert TASK_ROUTES[f"worker.tasks.{name}"]["queue"] == INGEST_QUEUE
    assert set(TASK_ROUTES) <= set(app.tasks)
    ingest = app.tasks["worker.tasks.ingest_event"]
    assert ingest.autoretry_for and ingest.retry_backoff and ingest.max_retries


@pytest.fixture
def celery_worker(settings, rt, tmp_path):
    """`celery -A worker.celery_app worker -Q ingest --pool solo` against the real broker."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DMFREC_DATABASE_URL": settings.database_url,
        "DMFREC_REDIS_URL": settings.redis_url,
        "DMFREC_BROKER_URL": settings.broker_url,
        "DMFREC_POPULAR_REFRESH_S": "0",
        "DMFREC_MODEL_DIR": str(settings.model_dir),
        "DMFREC_GUEST_SALT": TEST_GUEST_SALT,
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q",
             INGEST_QUEUE, "--pool", "solo", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "INFO"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    yield {"proc": proc, "log": log}
    stop(proc)


def _wait_for(condition, timeout: float, worker) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker["proc"].poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail("condition not met; worker log:\n" + worker["log"].read_text()[-4000:])


def test_webhook_to_worker_end_to_end(celery_worker, settings, r, status, make_event):
    secret = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLXRoZS13b3JrZXItdGVzdHM="
    web = create_app(settings.model_copy(update={"webhook_secrets": secret}))
    client = web.test_client()
    raw = json.dumps(make_event("live-1", lines={"SKU-A": 1, "SKU-B": 3})).encode()
    response = client.post("/v1/webhooks/magento/orders", data=raw,
                           content_type="application/json",
                           headers=signing.signed_headers(secret, raw))
    assert response.status_code == 202
    _wait_for(lambda: status("live-1") == "applied", 60, celery_worker)
    _wait_for(lambda: r.smembers(publish.bought_key("42")) == {"SKU-A", "SKU-B"}, 10,
              celery_worker)
    assert dict(publish.read_popular(r)) == {"SKU-A": 1.0, "SKU-B": 1.0}
    assert '"event_id": "live-1"' in celery_worker["log"].read_text()  # JSON logs, event id
    popular = client.get("/v1/popular").get_json()
    assert {i["sku"] for i in popular["items"]} == {"SKU-A", "SKU-B"}


def test_event_recorded_while_broker_down_is_processed_after_enqueue_pending(
    celery_worker, settings, rt, status, make_event, r
):
    from worker import live
    from worker.celery_app import make_celery

    secret = "plain-secret-for-the-worker-tests"
    web = create_app(settings.model_copy(
        update={"webhook_secrets": secret, "broker_url": "redis://127.0.0.1:1/0"}))
    raw = json.dumps(make_event("late-1")).encode()
    response = web.test_client().post("/v1/webhooks/magento/orders", data=raw,
                                      content_type="application/json",
                                      headers=signing.signed_headers(secret, raw))
    assert response.status_code == 202
    time.sleep(1.0)
    assert status("late-1") == "pending"  # nothing reached the worker
    assert live.enqueue_pending(rt, make_celery(settings)) == 1  # what beat runs every minute
    _wait_for(lambda: status("late-1") == "applied", 60, celery_worker)
    _wait_for(lambda: r.smembers(publish.bought_key("42")) == {"SKU-A"}, 10, celery_worker)
