"""The real server: gunicorn.conf.py, two workers, real HTTP, metrics summed across workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from storage.models import Base
from tests.conftest import TEST_GUEST_SALT, free_port, stop
from webhook import signing

REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _count(metrics: str, endpoint: str, status: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if (line.startswith("dmfrec_http_request_seconds_count{")
                and f'endpoint="{endpoint}"' in line and f'status="{status}"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


@pytest.fixture
def server(tmp_path, r, settings, secrets):
    db = tmp_path / "web.db"
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    engine.dispose()
    port = free_port()
    prom = tmp_path / "prom"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DMFREC_DATABASE_URL": f"sqlite:///{db}",
        "DMFREC_REDIS_URL": settings.redis_url,
        "DMFREC_BROKER_URL": settings.broker_url,
        "DMFREC_WEBHOOK_SECRETS": secrets["current"],
        "DMFREC_GUEST_SALT": TEST_GUEST_SALT,
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "WEB_CONCURRENCY": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    polls = 0
    deadline = time.monotonic() + 30
    while True:
        try:
            if _get(base + "/healthz")[0] == 200:
                polls += 1
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("gunicorn did not start: " + proc.stderr.read().decode()[-3000:])
        time.sleep(0.2)
    yield {"base": base, "proc": proc, "polls": polls, "prom": prom}
    stop(proc)


def test_gunicorn_serves_and_sums_metrics_over_workers(server, make_event, secrets, queued):
    base = server["base"]
    raw = json.dumps(make_event("evt-http")).encode()
    request = urllib.request.Request(
        base + "/v1/webhooks/magento/orders", data=raw, method="POST",
        headers={"Content-Type": "application/json",
                 **signing.signed_headers(secrets["current"], raw)},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
        assert response.headers["X-Request-Id"]
    assert queued() == [["evt-http"]]

    for _ in range(30):  # a new connection each: the kernel spreads them over the workers
        assert _get(base + "/healthz")[0] == 200
    expected = 30 + server["polls"]
    status, metrics = _get(base + "/metrics")
    assert status == 200
    assert _count(metrics, "health.healthz", "200") == expected
    assert _count(metrics, "webhooks.magento_order", "202") == 1
    assert len(list(server["prom"].glob("*.db"))) >= 2  # one file per worker and metric type

    # A worker dies: the master replaces it, and its counts stay in the sum.
    workers = _children(server["proc"].pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = _children(server["proc"].pid)
        if len(current) == 2 and workers[0] not in current:
            break
        time.sleep(0.2)
    else:
        pytest.fail("gunicorn did not replace the killed worker")
    for _ in range(5):
        assert _get(base + "/healthz")[0] == 200
    metrics = _get(base + "/metrics")[1]
    assert _count(metrics, "health.healthz", "200") == expected + 5
