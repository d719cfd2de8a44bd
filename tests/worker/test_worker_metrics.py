"""Worker metrics: a real prefork worker serves apply and fold-in latency, lag and backlog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_GUEST_SALT, free_port, stop
from webhook import create_app, signing
from worker.backlog import backlog_registry
from worker.celery_app import INGEST_QUEUE

REPO = Path(__file__).resolve().parents[2]
SECRET = "plain-secret-for-the-worker-metrics-test"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return samples(response.read().decode())


def test_worker_metrics_after_real_events(settings, rt, r, make_event, status, tmp_path):
    web = create_app(settings.model_copy(update={"webhook_secrets": SECRET}))
    client = web.test_client()
    ids = [f"m-{k}" for k in range(3)]
    for k, event_id in enumerate(ids):
        raw = json.dumps(make_event(event_id, entity_id=2000 + k, customer_id=50 + k)).encode()
        response = client.post("/v1/webhooks/magento/orders", data=raw,
                               content_type="application/json",
                               headers=signing.signed_headers(SECRET, raw))
        assert response.status_code == 202
    # No worker yet: the backlog is visible in the broker and the database.
    from prometheus_client import generate_latest

    backlog = samples(generate_latest(backlog_registry(rt.engine, rt.redis, [INGEST_QUEUE]))
                      .decode())
    # One message for the three events: the first task has not started, so the other two
    # sends were skipped (worker.events.send_new); its drain claims all three.
    assert backlog[("dmfrec_queue_depth", (("queue", INGEST_QUEUE),))] == 1
    assert backlog[("dmfrec_events", (("status", "pending"),))] == 3

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "DMFREC_DATABASE_URL": settings.database_url,
           "DMFREC_REDIS_URL": settings.redis_url, "DMFREC_BROKER_URL": settings.broker_url,
           "DMFREC_POPULAR_REFRESH_S": "0", "DMFREC_MODEL_DIR": str(settings.model_dir),
           "DMFREC_GUEST_SALT": TEST_GUEST_SALT, "DMFREC_WORKER_METRICS_PORT": str(port),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}  # made by the worker
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q",
             INGEST_QUEUE, "-P", "prefork", "-c", "2", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "INFO"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if all(status(e) == "applied" for e in ids):
                break
            time.sleep(0.2)
        else:
            pytest.fail("events not applied; worker log:\n" + log.read_text()[-4000:])
        got: dict = {}
        applied = ("dmfrec_worker_events_total", (("outcome", "applied"),))
        while time.monotonic() < deadline:  # the pool's last observations land just after
            got = scrape(port)
            if got.get(applied) == 3:  # counted last, after every latency was observed
                break
            time.sleep(0.2)
    finally:
        stop(proc)
    # The events were waiting when the worker started: the first task's batch took what was
    # recorded and the other tasks found theirs done (one to three batches, by timing).
    batches = got[("dmfrec_worker_batch_events_count", ())]
    assert 1 <= batches <= 3 and got[("dmfrec_worker_batch_events_sum", ())] == 3
    assert got[("dmfrec_worker_apply_seconds_count", ())] == batches
    assert batches <= got[("dmfrec_worker_fold_in_seconds_count", ())] <= 3
    # 3 customers, once each; a task whose event another batch held (and had not marked
    # refreshed yet) refreshes its customer too: the safe side of that race.
    assert 3 <= got[("dmfrec_worker_customer_refreshes_total", ())] <= 5
    assert got[("dmfrec_worker_event_lag_seconds_count", ())] == 3
    assert 0 < got[("dmfrec_worker_apply_seconds_sum", ())] < 60
    assert got[applied] == 3
    assert got[("dmfrec_events", (("status", "pending"),))] == 0
    assert got[("dmfrec_queue_depth", (("queue", INGEST_QUEUE),))] == 0
    assert got[("dmfrec_queue_depth_up", ())] == 1
