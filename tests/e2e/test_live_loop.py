"""End to end, as deployed: gunicorn (2 workers), a Celery worker on both queues and Celery
beat run as real processes against the real MariaDB (migrated by ``alembic upgrade head``) and
Redis. Signed orders go in over HTTP; the customer's list changes in Redis and through the
storefront endpoint within a deadline; a cancel takes the purchase's effect back; a resent or
stale event changes nothing; an event recorded while the broker was unreachable is handed over
by beat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from config.settings import Settings
from storage.ingestion import receive
from storage.models import Event, Interaction
from tests.conftest import TEST_GUEST_SALT, free_port, stop
from webhook import signing, tokens
from worker import publish
from worker.celery_app import make_celery

REPO = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("DMFREC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("DMFREC_TEST_E2E_REDIS_URL", "redis://127.0.0.1:6379/14")
SECRET = "whsec_" + "ZTJlLXNlY3JldC1mb3ItdGVzdHMtb25seQ=="
TOKEN_SECRET = "e2e-token-secret-0123456789abcdef"
DEADLINE_S = 10.0  # the product aims at one second; CI machines are slower and shared
GROUPS = [[f"TOY-{k}" for k in range(12)], [f"BOOK-{k}" for k in range(12)]]


def _wait(condition: Callable[[], object], timeout: float, what: str,
          procs: dict[str, dict]) -> tuple[object, float]:
    """Poll until `condition()` is truthy; fail with every process's log tail if it is not."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = condition()
        if value:
            return value, time.monotonic() - start
        for name, p in procs.items():
            if p["proc"].poll() is not None:
                pytest.fail(f"{name} exited while waiting for {what}:\n"
                            + p["log"].read_text()[-3000:])
        time.sleep(0.05)
    logs = "\n".join(f"--- {n}\n{p['log'].read_text()[-2000:]}" for n, p in procs.items())
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}")


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh MariaDB database, migrated with the real `alembic upgrade head`."""
    name = f"dmfrec_e2e_{uuid.uuid4().hex[:8]}"
    server = create_engine(SERVER)
    with server.begin() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=REPO,
                       env={**os.environ, "DMFREC_DATABASE_URL": url}, check=True,
                       capture_output=True, timeout=120)
        yield url
    finally:
        with server.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        server.dispose()


@pytest.fixture
def r() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def stack(database, r, tmp_path) -> Iterator[dict]:
    port = free_port()
    (tmp_path / "prom").mkdir()
    env = {
        **os.environ, "PYTHONPATH": str(REPO),
        "DMFREC_DATABASE_URL": database, "DMFREC_REDIS_URL": REDIS_URL,
        "DMFREC_BROKER_URL": REDIS_URL, "DMFREC_WEBHOOK_SECRETS": SECRET,
        "DMFREC_TOKEN_SECRET": TOKEN_SECRET, "DMFREC_MODEL_DIR": str(tmp_path / "models"),
        "DMFREC_GUEST_SALT": TEST_GUEST_SALT,
        "DMFREC_POPULAR_REFRESH_S": "0", "DMFREC_PENDING_AFTER_S": "0",
        "DMFREC_PENDING_SWEEP_S": "2", "DMFREC_TRAIN_EPOCHS": "200",
        # No automatic fine-tune: it would change the lists this test compares.
        "DMFREC_FINE_TUNE_AFTER_EVENTS": "0", "DMFREC_FINE_TUNE_AFTER_MINUTES": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "WEB_CONCURRENCY": "2",
    }
    celery = [sys.executable, "-m", "celery", "-A", "worker.celery_app"]
    commands = {
        "gunicorn": [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                     "webhook:create_app()"],
        "worker": [*celery, "worker", "-Q", "ingest,train", "--concurrency", "2",
                   "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        "beat": [*celery, "beat", "-s", str(tmp_path / "beat-schedule"), "--loglevel", "INFO"],
    }
    procs: dict[str, dict] = {}
    try:
        for name, cmd in commands.items():
            log = tmp_path / f"{name}.log"
            with log.open("w") as out:
                procs[name] = {"proc": subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out,
                                                        stderr=subprocess.STDOUT),
                               "log": log}
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: _ok(base + "/healthz"), 60, "gunicorn", procs)
        yield {"base": base, "procs": procs, "engine": create_engine(database),
               "settings": Settings(database_url=database, redis_url=REDIS_URL,
                                    broker_url=REDIS_URL, guest_salt=TEST_GUEST_SALT)}
    finally:
        stop(*(p["proc"] for p in procs.values()))


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _order(event_id: str, entity_id: int, customer_id: int, skus: list[str], *,
           state: str = "processing", canceled: bool = False, minutes_ago: float = 60) -> dict:
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%d %H:%M:%S")
    items = [{"item_id": entity_id * 100 + k, "sku": sku, "qty_ordered": 1,
              "qty_canceled": 1 if canceled else 0, "price": 10, "row_total": 10}
             for k, sku in enumerate(skus)]
    return {"event_id": event_id,
            "order": {"entity_id": entity_id, "increment_id": str(entity_id),
                      "customer_id": customer_id, "customer_email": f"{customer_id}@ex.com",
                      "state": state, "status": state, "created_at": at, "updated_at": at,
                      "items": items}}


def _post(base: str, body: dict, webhook_id: str | None = None) -> int:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json",
               **signing.signed_headers(SECRET, raw, msg_id=webhook_id or body["event_id"])}
    request = urllib.request.Request(base + "/v1/webhooks/magento/orders", data=raw,
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _endpoint_skus(base: str, customer: str) -> list[str]:
    request = urllib.request.Request(
        f"{base}/v1/customers/{customer}/recommendations?limit=10",
        headers={"Authorization": f"Bearer {tokens.mint(TOKEN_SECRET, customer)}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
    assert not body["fallback"]
    return [item["sku"] for item in body["items"]]


def _redis_skus(r: redis_lib.Redis, customer: str) -> list[str] | None:
    _, pairs = publish.read_user_list(r, customer)
    return None if pairs is None else [sku for sku, _ in pairs]


def _same_scores(r: redis_lib.Redis, customer: str, expected: dict[str, float]) -> bool:
    """The customer's list holds the same SKUs with the same scores (ties may swap places)."""
    _, pairs = publish.read_user_list(r, customer)
    got = dict(pairs or [])
    return got.keys() == expected.keys() and all(
        abs(got[k] - v) < 1e-5 for k, v in expected.items())


def _statuses(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Event.event_id, Event.status)).all())


def _qty(engine, customer: str, sku: str) -> float:
    with engine.connect() as conn:
        value = conn.execute(select(Interaction.qty).where(
            Interaction.customer_key == customer, Interaction.sku == sku)).scalar()
    return float(value or 0)


def test_orders_change_lists_live_and_cancels_and_resends_behave(stack, r):
    base, procs, engine = stack["base"], stack["procs"], stack["engine"]
    # A small shop over the real webhook: two taste groups, three orders per customer.
    seeded = []
    for c in range(30):
        group = GROUPS[c % 2]
        for k in range(3):
            event = _order(f"seed-{c}-{k}", 10_000 + c * 10 + k, 500 + c,
                           [group[(c + k) % 12], group[(c + 3 * k + 1) % 12]],
                           minutes_ago=600 - k)
            assert _post(base, event) == 202
            seeded.append(event["event_id"])
    _wait(lambda: all(_statuses(engine).get(e) == "applied" for e in seeded), 120,
          "the seed orders to be applied", procs)

    # Nightly retrain through the train queue; the first candidate has nothing to beat.
    make_celery(stack["settings"]).send_task("worker.tasks.nightly_retrain")
    _wait(lambda: publish.active_version(r), 180, "a published model version", procs)
    customer = "500"
    before = _redis_skus(r, customer)
    scores = dict(publish.read_user_list(r, customer)[1])
    assert before and before[:10] == _endpoint_skus(base, customer)

    # A purchase of the customer's top SKU: it leaves the list, others move up.
    bought = before[0]
    purchase = _order("buy-1", 90_001, 500, [bought], minutes_ago=1)
    assert _post(base, purchase) == 202
    after, took = _wait(lambda: (s := _redis_skus(r, customer)) != before and s, DEADLINE_S,
                        "the customer's list to change in Redis", procs)
    assert bought not in after and _qty(engine, customer, bought) == 1
    assert bought in r.smembers(publish.bought_key(customer))
    endpoint = _endpoint_skus(base, customer)
    assert bought not in endpoint and endpoint == after[:10]
    print(f"list changed {took * 1000:.0f} ms after the POST was answered")

    # The cancel of that order: the purchase's effect is gone, the list is as before.
    cancel = _order("cancel-1", 90_001, 500, [bought], state="canceled", canceled=True,
                    minutes_ago=0)
    assert _post(base, cancel) == 202
    _wait(lambda: _same_scores(r, customer, scores), DEADLINE_S,
          "the cancel to restore the list", procs)
    assert _qty(engine, customer, bought) == 0
    assert bought not in r.smembers(publish.bought_key(customer))
    assert _endpoint_skus(base, customer) == _redis_skus(r, customer)[:10]

    # Magento resends: the same delivery again, and the older snapshot under a new id.
    assert _post(base, cancel) in (200, 202)
    assert _post(base, purchase, webhook_id="resend-of-buy-1") in (200, 202)
    stale = _order("buy-1-resent", 90_001, 500, [bought], minutes_ago=1)
    stale["order"]["updated_at"] = purchase["order"]["updated_at"]
    assert _post(base, stale) == 202
    _wait(lambda: _statuses(engine).get("buy-1-resent") not in (None, "pending"), DEADLINE_S,
          "the resent snapshot to be processed", procs)
    assert _statuses(engine)["buy-1-resent"] == "stale"
    time.sleep(1.0)  # anything a resend might have enqueued has run by now
    assert _qty(engine, customer, bought) == 0
    assert _same_scores(r, customer, scores)
    assert len([e for e in _statuses(engine) if e.startswith(("buy-1", "cancel-1"))]) == 3

    # Recorded while the broker was unreachable (no task sent): beat hands it over.
    other = "501"
    other_before = _redis_skus(r, other)
    late = _order("late-1", 90_002, 501, [other_before[0]], minutes_ago=1)
    receive(engine, json.dumps(late).encode())
    _wait(lambda: _redis_skus(r, other) != other_before, 60,
          "beat to enqueue the pending event", procs)
    assert _statuses(engine)["late-1"] == "applied"
