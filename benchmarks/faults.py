"""Fault injection on the live loop: real processes, private services, loopback only.

For each scenario a private MariaDB (``mariadb-install-db`` + ``mariadbd`` on a free port, its
own datadir) and a private Redis (``redis-server --save "" --appendonly no``, lists and broker)
are started once; every scenario gets a fresh database migrated with ``alembic upgrade head``,
a flushed Redis, and its own gunicorn (``webhook:create_app()``), Celery worker (ingest+train)
and Celery beat (the pending sweep). The shared services of the machine are never touched.

The orders are the first Online Retail invoices (``../shared/data/online-retail``, read by
benchmarks.magento_fixture into Magento-shaped orders; a synthetic history when absent), shifted
so the newest is a day old. The first `--history` orders are ingested directly and a model is
trained (worker.training.nightly_retrain) and published: the active version. The next
`--orders` orders are replayed as signed webhooks at a steady `--rate` (deliveries/s): one
event per order, and a second (refund, later ``updated_at``) for orders with credit memos. A
5xx or a connection error is retried every second (as Magento's queue would), so no event
may be lost. Faults, a few seconds into the replay:

  a  Redis stopped for 30 s, then started again (empty: no persistence)
  b  the Celery worker SIGKILLed (whole process group) while a task is unacknowledged,
     restarted 3 s later
  c  MariaDB stopped (SIGTERM) and started again on the same port and datadir
  d  no outage: every event delivered twice, 10 % of the deliveries moved later (out of order)

The stack runs with the pending sweep every 2 s (DMFREC_PENDING_AFTER_S=5,
DMFREC_RESEND_AFTER_S=15; the defaults, 60 s and 900 s, would make (b) take up to 15 minutes),
and a supervisor restarts a worker or beat that exits (as docker-compose's ``restart:
unless-stopped`` does); each such crash is counted in the table.

After the replay the harness waits (bounded) until no event is pending and the ingest queue
and the unacked set are empty; if the active version vanished with Redis it waits for beat's
``restore-active-version`` to restore it (worker.recovery: bought sets, the active version and
fold-ins of every customer who bought since its training, from the database), timing it from
Redis's return (``restored s``). It reports: events sent and accepted,
lost (accepted but never applied, or never accepted), counted twice (interaction pairs above
the ground truth), pairs differing from the ground truth (tests/storage/storage_oracle.py,
computed from the source orders, not from storage.ingestion), 5xx answers inside/outside the
down windows (a request overlapping [down, up + grace]), time to recover (from the
dependency's return until no accepted event is pending for more than 2 s), and whether every
customer list in Redis belongs to the active version, every customer who bought after the
model's training has the list a fold-in of the database's current rows gives (``stale`` counts
those who do not), and every customer of the window has their whole bought set.

    .venv/bin/python -m benchmarks.faults [--orders 1000] [--rate 25] [--scenarios a,b,c,d]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis as redis_lib
from sqlalchemy import Engine, create_engine, func, select, text

from benchmarks.live import _stop, machine, wait_healthy
from benchmarks.machine import free_port
from config.settings import Settings
from storage.ingestion import Policy, utcnow
from storage.models import Event
from webhook import signing

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "online-retail"
SECRET = "whsec_" + "ZmF1bHQtaW5qZWN0aW9uLXNlY3JldC0wMTIzNDU2Nzg5"
GUEST_SALT = "faults-guest-salt-0123456789abcdef"
PATH = "/v1/webhooks/magento/orders"
TS = "%Y-%m-%d %H:%M:%S"
GRACE_S = 2.0  # a 5xx answered this long after a dependency's return still counts as inside
LAG_S = 2.0  # "recovered": no accepted event pending for longer than this
REDIS_DOWN_S = 30.0
FAULT_AT_S = 6.0  # seconds into the replay


# ---------------------------------------------------------------- orders


def _fmt(at: datetime) -> str:
    return at.strftime(TS)


def load_orders(n: int, data_dir: Path | None = DATA) -> list[list[dict]]:
    """The first `n` orders as snapshot versions (oldest first): the order as placed and, when
    credit memos refund part of it, the refunded order (later ``updated_at``)."""
    if data_dir is not None and data_dir.is_dir():
        from benchmarks.magento_fixture import build_rows, csv_files, read_csv

        tables, _ = build_rows(read_csv(csv_files(data_dir), max_rows=60 * n + 1000))
        orders = sorted(tables["sales_order"], key=lambda o: o["entity_id"])[:n]
        items: dict[int, list[dict]] = {}
        for it in tables["sales_order_item"]:
            items.setdefault(it["order_id"], []).append(it)
    else:
        orders, items = _synthetic(n)
    newest = max(o["updated_at"] for o in orders)
    shift = (datetime.now().replace(microsecond=0) - timedelta(days=1)) - newest
    out = []
    for o in orders:
        lines = items.get(o["entity_id"], [])
        refunded = any(i["qty_refunded"] > 0 for i in lines)
        versions = [_snapshot(o, lines, shift, placed=True)]
        if refunded:
            versions.append(_snapshot(o, lines, shift, placed=False))
        out.append(versions)
    return out


def _synthetic(n: int) -> tuple[list[dict], dict[int, list[dict]]]:
    """A stand-in history (same shapes as benchmarks.magento_fixture) when the CSVs are absent."""
    rng = random.Random(5)
    start = datetime(2011, 1, 3, 9)
    orders, items = [], {}
    for k in range(1, n + 1):
        at = start + timedelta(minutes=7 * k)
        customer = None if rng.random() < 0.1 else 12000 + rng.randrange(n // 3 + 1)
        orders.append({"entity_id": k, "increment_id": str(500000 + k), "customer_id": customer,
                       "customer_is_guest": int(customer is None),
                       "customer_email": f"c-{customer or k}@example.invalid",
                       "state": "complete", "status": "complete", "created_at": at,
                       "updated_at": at + timedelta(hours=2) if k % 9 == 0 else at,
                       "grand_total": Decimal(0)})
        items[k] = [{"item_id": k * 100 + j, "sku": f"S{rng.randrange(300):04d}",
                     "name": "thing", "qty_ordered": Decimal(q := rng.randint(1, 6)),
                     "qty_refunded": Decimal(1 if k % 9 == 0 and j == 0 else 0),
                     "price": Decimal("2.50"), "row_total": Decimal("2.50") * q,
                     "product_id": 1, "parent_item_id": None, "product_type": "simple"}
                    for j in range(rng.randint(1, 5))]
    return orders, items


def _snapshot(o: dict, lines: list[dict], shift: timedelta, *, placed: bool) -> dict:
    created = o["created_at"] + shift
    state = "processing" if placed else o["state"]
    return {
        "entity_id": o["entity_id"], "increment_id": o["increment_id"], "store_id": 1,
        "customer_id": o["customer_id"], "customer_email": o["customer_email"],
        "customer_is_guest": bool(o["customer_is_guest"]), "state": state, "status": state,
        "created_at": _fmt(created),
        "updated_at": _fmt(created if placed else o["updated_at"] + shift),
        "currency": "GBP", "grand_total": str(o["grand_total"]),
        "items": [{"item_id": i["item_id"], "parent_item_id": i.get("parent_item_id"),
                   "product_id": i.get("product_id"), "sku": i["sku"], "name": i.get("name"),
                   "product_type": i.get("product_type") or "simple",
                   "qty_ordered": str(i["qty_ordered"]), "qty_canceled": "0",
                   "qty_refunded": "0" if placed else str(i["qty_refunded"]),
                   "qty_invoiced": str(i["qty_ordered"]), "price": str(i["price"]),
                   "row_total": str(i["row_total"])} for i in lines],
    }


def events_of(orders: list[list[dict]]) -> list[dict]:
    """Webhook events in the order Magento would send them (by ``updated_at``)."""
    out = [{"event_id": f"ev-{v['entity_id']}-{k}", "order": v}
           for versions in orders for k, v in enumerate(versions)]
    return sorted(out, key=lambda e: (e["order"]["updated_at"], e["event_id"]))


def truth(orders: list[list[dict]], policy: Policy) -> dict:
    """Expected interactions from each order's newest snapshot (the independent oracle)."""
    from tests.storage.storage_oracle import expected_pairs, normalise

    return normalise(expected_pairs([versions[-1] for versions in orders], policy))


# ---------------------------------------------------------------- private services


@dataclass
class Proc:
    """A started process with its command, environment and log (restartable)."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    held: bool = False  # stopped on purpose: the supervisor leaves it down

    def start(self) -> None:
        self.held = False
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.cmd, cwd=REPO, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and pool children)."""
        assert self.proc is not None
        self.held = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def tail(self, n: int = 2500) -> str:
        return f"--- {self.name}\n" + self.log.read_text(errors="replace")[-n:]


def _until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - start
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class Services:
    """A private MariaDB and a private Redis on free loopback ports, in `tmp`."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db_port, self.redis_port = free_port(), free_port()
        data = tmp / "mariadb"
        self.mariadb = Proc("mariadbd", [
            "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}",
            f"--port={self.db_port}", "--bind-address=127.0.0.1", f"--socket={tmp}/mysql.sock",
            f"--pid-file={tmp}/mariadb.pid", "--user=root", "--skip-log-bin",
            "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=2",
            "--max-connections=300", f"--log-error={tmp}/mariadb.err"], dict(os.environ),
            tmp / "mariadbd.log")
        self.redis = Proc("redis", [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(tmp)], dict(os.environ),
            tmp / "redis.log")
        self.server_url = f"mysql+pymysql://root@127.0.0.1:{self.db_port}/mysql"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> None:
        done = subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.tmp / 'mariadb'}",
             "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            raise RuntimeError(f"mariadb-install-db failed:\n{done.stdout}\n{done.stderr}")
        self.start_mariadb()
        self.start_redis()

    def start_mariadb(self) -> None:
        self.mariadb.start()
        _until(self.db_up, 60, "the private MariaDB")

    def start_redis(self) -> None:
        self.redis.start()
        _until(lambda: redis_lib.Redis.from_url(self.redis_url).ping(), 30, "the private Redis")

    def db_up(self) -> bool:
        import pymysql

        pymysql.connect(host="127.0.0.1", port=self.db_port, user="root",
                        connect_timeout=1).close()
        return True

    def stop_mariadb(self) -> None:
        """A clean shutdown (SIGTERM), waited for."""
        assert self.mariadb.proc is not None
        self.mariadb.proc.send_signal(signal.SIGTERM)
        self.mariadb.proc.wait(timeout=60)

    def stop_redis(self) -> None:
        assert self.redis.proc is not None
        self.redis.proc.send_signal(signal.SIGTERM)
        self.redis.proc.wait(timeout=30)

    def close(self) -> None:
        for p in (self.redis, self.mariadb):
            with contextlib.suppress(Exception):
                p.stop()

    def fresh_database(self, name: str) -> str:
        """A new database migrated with the real ``alembic upgrade head``."""
        server = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        server.dispose()
        url = self.server_url.rsplit("/", 1)[0] + f"/{name}"
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=REPO,
                       env={**os.environ, "DMFREC_DATABASE_URL": url}, check=True,
                       capture_output=True, timeout=120)
        return url


# ---------------------------------------------------------------- the stack


class Stack:
    """gunicorn + a Celery worker (ingest, train) + beat against the private services."""

    def __init__(self, tmp: Path, database_url: str, redis_url: str, model_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        (tmp / "prom").mkdir(exist_ok=True)
        env = {
            **os.environ, "PYTHONPATH": str(REPO), "DMFREC_DATABASE_URL": database_url,
            "DMFREC_REDIS_URL": redis_url, "DMFREC_BROKER_URL": redis_url,
            "DMFREC_WEBHOOK_SECRETS": SECRET, "DMFREC_GUEST_SALT": GUEST_SALT,
            "DMFREC_TOKEN_SECRET": "faults-token-0123456789abcdef",
            "DMFREC_MODEL_DIR": str(model_dir), "DMFREC_POPULAR_REFRESH_S": "5",
            # Short sweep periods so a lost task is handed over within seconds, not minutes.
            "DMFREC_PENDING_AFTER_S": "5", "DMFREC_PENDING_SWEEP_S": "2",
            "DMFREC_RESEND_AFTER_S": "15",
            "DMFREC_FINE_TUNE_AFTER_EVENTS": "0", "DMFREC_FINE_TUNE_AFTER_MINUTES": "0",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom"), "WEB_CONCURRENCY": "2",
        }
        self.settings = Settings(database_url=database_url, redis_url=redis_url,
                                 broker_url=redis_url, model_dir=model_dir,
                                 guest_salt=GUEST_SALT)
        celery = [sys.executable, "-m", "celery", "-A", "worker.celery_app"]
        self.web = Proc("gunicorn", [sys.executable, "-m", "gunicorn", "-c",
                                     str(REPO / "gunicorn.conf.py"), "--bind",
                                     f"127.0.0.1:{self.port}"], env, tmp / "gunicorn.log")
        self.worker = Proc("worker", [*celery, "worker", "-Q", "ingest,train", "-c", "2",
                                      "--without-gossip", "--without-mingle", "-n",
                                      f"faults-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO"],
                           env, tmp / "worker.log")
        self.beat = Proc("beat", [*celery, "beat", "-s", str(tmp / "beat-schedule"),
                                  "--loglevel", "INFO"], env, tmp / "beat.log")
        self.procs = [self.web, self.worker, self.beat]

    def start(self) -> None:
        for p in self.procs:
            p.start()
        assert self.web.proc is not None
        wait_healthy(self.base, self.web.proc, self.web.log, timeout_s=90)

    def supervise(self, stop: threading.Event, restarts: list[str]) -> None:
        """Restart a worker or beat that exited (docker-compose's ``restart: unless-stopped``),
        recording each restart: a crash is reported, and must not turn into a hang."""
        while not stop.wait(0.5):
            for p in (self.worker, self.beat):
                if p.proc is not None and not p.held and p.proc.poll() is not None:
                    restarts.append(f"{p.name} exited ({p.proc.returncode}); restarted")
                    p.start()

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.stop()

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.procs)


# ---------------------------------------------------------------- the sender


@dataclass
class Sender:
    """Paced signed POSTs; a 5xx or connection error is retried every second (bounded)."""

    base: str
    deadline_s: float = 150.0
    responses: list[tuple[float, float, int, str]] = field(default_factory=list)
    accepted: dict[str, float] = field(default_factory=dict)
    retrying: set[int] = field(default_factory=set)
    rejected: dict[str, int] = field(default_factory=dict)
    last_sent: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, body: bytes) -> int:
        host, port = self.base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=15)
        try:
            headers = {"Content-Type": "application/json",
                       **signing.signed_headers(SECRET, body)}
            conn.request("POST", PATH, body, headers)
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return 0  # no answer: retried like a 5xx
        finally:
            conn.close()

    def deliver(self, k: int, event: dict) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        first = time.monotonic()
        while True:
            t0 = time.monotonic()
            status = self.post(body)
            t1 = time.monotonic()
            with self._lock:
                self.responses.append((t0, t1, status, event["event_id"]))
                if 200 <= status < 300:
                    self.accepted.setdefault(event["event_id"], t1)
                    self.retrying.discard(k)
                    return
                if 400 <= status < 500:
                    self.rejected[event["event_id"]] = status
                    self.retrying.discard(k)
                    return
                self.retrying.add(k)
            if t1 - first > self.deadline_s:
                with self._lock:
                    self.retrying.discard(k)
                return
            time.sleep(1.0)

    def replay(self, deliveries: list[dict], rate: float) -> float:
        """Send every delivery at `rate` per second; returns when all are answered."""
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            for k, event in enumerate(deliveries):
                delay = start + k / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.deliver, k, event)
                self.last_sent = time.monotonic()
        return start


# ---------------------------------------------------------------- one scenario


SCENARIOS = {
    "a": "Redis stopped 30 s, restarted",
    "b": "Celery worker SIGKILLed mid-task, restarted",
    "c": "MariaDB restarted",
    "d": "every event twice, 10 % out of order",
}


@dataclass
class Result:
    scenario: str
    sent: int = 0
    deliveries: int = 0
    accepted: int = 0
    lost: int = 0
    doubled: int = 0
    mismatched: int = 0
    truth_pairs: int = 0
    e5xx_inside: int = 0
    e5xx_outside: int = 0
    no_answer: int = 0
    down: list[tuple[float, float]] = field(default_factory=list)
    recover_s: float | None = None
    drain_s: float | None = None
    active: str | None = None
    republished: bool = False
    restored_s: float | None = None
    lists_checked: int = 0
    lists_stale: int = 0
    bought_missing: int | None = None  # None: Redis never restored (the seeded history
    # bypassed the worker, so its customers get bought sets at beat's first restore tick)
    lists_active: int = 0
    lists_foreign: int = 0
    customers: int = 0
    customers_with_list: int = 0
    orphaned: int = 0
    restarts: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    outside_samples: list[tuple[float, int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.doubled == 0 and self.mismatched == 0
                and self.e5xx_outside == 0 and self.active is not None
                and self.lists_foreign == 0)


def deliveries_for(scenario: str, events: list[dict], seed: int = 11) -> list[dict]:
    """(d): each event twice (the copy a few places later), then 10 % moved later."""
    if scenario != "d":
        return list(events)
    rng = random.Random(seed)
    slots = [(2 * k, e) for k, e in enumerate(events)]
    slots += [(2 * k + rng.randint(1, 40), e) for k, e in enumerate(events)]
    slots.sort(key=lambda s: s[0])
    out = [e for _, e in slots]
    for k in rng.sample(range(len(out)), len(out) // 10):
        out.insert(min(len(out) - 1, k + rng.randint(5, 60)), out.pop(k))
    return out


def _pending_lag(engine: Engine, lag_s: float) -> int:
    """Accepted events still pending (or not recorded) after `lag_s` seconds."""
    cutoff = utcnow() - timedelta(seconds=lag_s)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Event).where(
            Event.status == "pending", Event.received_at <= cutoff)).scalar() or 0)


def _drained(engine: Engine, r: redis_lib.Redis, ids: set[str]) -> bool:
    with engine.connect() as conn:
        done = dict(conn.execute(select(Event.event_id, Event.status)).all())
    if any(done.get(e) in (None, "pending") for e in ids):
        return False
    # Not the unacked set: a SIGKILLed worker's messages stay there until the visibility
    # timeout (hours); they are counted apart (`orphaned`).
    return r.llen("ingest") == 0


def run_scenario(scenario: str, services: Services, tmp: Path, orders: list[list[dict]],
                 history: int, rate: float, model_dir: Path, version: list[str],
                 log: Callable[[str], None] = print) -> Result:
    """One scenario on a fresh database and a flushed Redis; returns its figures."""
    t_wall = time.monotonic()
    res = Result(scenario)
    r = redis_lib.Redis.from_url(services.redis_url, decode_responses=True,
                                 socket_connect_timeout=1, socket_timeout=5)
    r.flushall()
    url = services.fresh_database(f"faults_{scenario}_{uuid.uuid4().hex[:6]}")
    stack = Stack(tmp, url, services.redis_url, model_dir)
    policy = Policy.from_settings(stack.settings)
    engine = create_engine(url, pool_pre_ping=True)
    expected = truth(orders, policy)
    res.truth_pairs = len(expected)
    _seed(stack.settings, orders[:history], version, log)
    events = events_of(orders[history:])
    deliveries = deliveries_for(scenario, events)
    res.sent, res.deliveries = len(events), len(deliveries)
    sender = Sender(stack.base)
    try:
        stack.start()
        supervising = threading.Event()
        threading.Thread(target=stack.supervise, args=(supervising, res.restarts),
                         daemon=True).start()
        fault = threading.Thread(target=_inject, args=(scenario, services, stack, r, res, log),
                                 daemon=True)
        log(f"[{scenario}] replaying {len(events)} events ({len(deliveries)} deliveries) "
            f"at {rate:g}/s")
        start_box: list[float] = []
        replay = threading.Thread(target=lambda: start_box.append(
            sender.replay(deliveries, rate)), daemon=True)
        replay.start()
        time.sleep(FAULT_AT_S)
        fault.start()
        fault.join(timeout=180)
        if scenario == "a" and res.down:
            res.restored_s = _restored(r, res.down[-1][1])
        if res.down:
            res.recover_s = _recovery(engine, sender, res.down[-1][1])
        replay.join(timeout=600)
        ids = {e["event_id"] for e in events}
        try:
            res.drain_s = _until(lambda: _drained(engine, r, set(sender.accepted)), 120,
                                 "every accepted event to be applied", step=0.25)
        except TimeoutError as exc:
            res.notes.append(str(exc))
        if publish_active(r) is None and version:
            res.republished = True  # by beat's restore-active-version (every 60 s)
            _until(lambda: publish_active(r) == version[0], 150,
                   "beat's restore-active-version to publish the version again")
        _check(res, engine, r, expected, ids, sender)
        _check_customers(res, stack.settings)
    except Exception:
        log(stack.logs())
        raise
    finally:
        with contextlib.suppress(NameError):
            supervising.set()
        stack.stop()
        engine.dispose()
        r.close()
    res.wall_s = time.monotonic() - t_wall
    if not res.ok:
        log(stack.logs())
    return res


def publish_active(r: redis_lib.Redis) -> str | None:
    from worker import publish

    return publish.active_version(r)


def _seed(settings: Settings, history: list[list[dict]], version: list[str],
          log: Callable[[str], None]) -> None:
    """History ingested in-process; the model trained once (nightly_retrain), then published."""
    from storage.ingestion import ingest
    from worker.runtime import Runtime

    ingest(settings.database_url, events_of(history), Policy.from_settings(settings))
    rt = Runtime.from_settings(settings.model_copy(update={"train_epochs": 30}))
    try:
        if not version:
            from worker.training import nightly_retrain

            summary = nightly_retrain(rt)
            version.append(summary["version"])
            log(f"trained {summary['version']}: {summary.get('n_users')} customers, "
                f"{summary.get('n_items')} SKUs")
        else:
            from worker.versions import publish_model_version

            publish_model_version(rt, version[0])
    finally:
        rt.engine.dispose()
        rt.redis.close()


def _inject(scenario: str, services: Services, stack: Stack, r: redis_lib.Redis, res: Result,
            log: Callable[[str], None]) -> None:
    if scenario == "a":
        down = time.monotonic()
        services.stop_redis()
        log(f"[a] Redis stopped; down {REDIS_DOWN_S:g} s")
        time.sleep(max(0.0, REDIS_DOWN_S - (time.monotonic() - down)))
        services.start_redis()
        res.down.append((down, time.monotonic()))
    elif scenario == "b":
        try:
            _until(lambda: r.hlen("unacked") > 0, 15, "a task in flight", step=0.01)
        except TimeoutError:
            res.notes.append("no unacknowledged task seen; killed anyway")
        down = time.monotonic()
        stack.worker.kill()
        log(f"[b] worker SIGKILLed with {r.hlen('unacked')} unacked task(s)")
        time.sleep(3.0)
        stack.worker.start()
        res.down.append((down, time.monotonic()))
    elif scenario == "c":
        down = time.monotonic()
        services.stop_mariadb()
        log("[c] MariaDB stopped")
        time.sleep(2.0)
        services.start_mariadb()
        res.down.append((down, time.monotonic()))


def _restored(r: redis_lib.Redis, up: float, timeout_s: float = 180) -> float | None:
    """Seconds from Redis's return until beat's restore marked it intact again."""
    from worker.recovery import INTACT

    try:
        _until(lambda: bool(r.exists(INTACT)) and publish_active(r) is not None, timeout_s,
               "beat's restore of the flushed Redis", step=0.25)
    except TimeoutError:
        return None
    return time.monotonic() - up


def _check_customers(res: Result, settings: Settings) -> None:
    """Bought sets of every customer of the window, and the lists of every customer with an
    order applied since the active version's data was read, against the database now."""
    from storage.models import ModelVersion, Order
    from worker import live, publish
    from worker.recovery import INTACT
    from worker.runtime import Runtime

    rt = Runtime.from_settings(settings)
    try:
        with rt.reading() as session:
            customers = sorted(session.scalars(select(Order.customer_key).distinct().where(
                Order.customer_key.is_not(None))))
            since = session.scalar(select(ModelVersion.window_end)
                                   .where(ModelVersion.version == res.active))
            recent = sorted(session.scalars(select(Order.customer_key).distinct().where(
                Order.customer_key.is_not(None), Order.ingested_at >= since))) \
                if since is not None else []
        if rt.redis.exists(INTACT):
            owned = live.window_rows(rt, customers)
            with rt.reading() as session:
                everything = live.customer_rows(session, customers)
            res.bought_missing = sum(
                1 for c in customers
                if owned[c] and rt.redis.smembers(publish.bought_key(c)) != set(everything[c]))
        loaded = rt.active_model()
        if loaded is None:
            return
        fresh = live.fold_in_lists(rt, loaded, live.window_rows(rt, recent))
        res.lists_checked = len(fresh)
        for c, pairs in fresh.items():
            stored = publish.decode(rt.redis.get(publish.user_key(loaded.version, c))) or []
            if len(stored) != len(pairs) or any(
                    abs(a - b) > 1e-4 for (_, a), (_, b) in zip(stored, pairs, strict=True)):
                res.lists_stale += 1
                if res.lists_stale <= 3:
                    res.notes.append(f"stale list of {c}: {stored[:3]} != {pairs[:3]}")
    finally:
        rt.engine.dispose()
        rt.redis.close()


def _recovery(engine: Engine, sender: Sender, up: float) -> float | None:
    """Seconds from `up` until no accepted event waits longer than LAG_S and none is retried."""
    deadline = up + 150
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            with sender._lock:
                retrying = len(sender.retrying)
            if retrying == 0 and _pending_lag(engine, LAG_S) == 0:
                return time.monotonic() - up
        time.sleep(0.25)
    return None


def _check(res: Result, engine: Engine, r: redis_lib.Redis, expected: dict, ids: set[str],
           sender: Sender) -> None:
    from tests.storage.storage_oracle import normalise, stored_pairs

    with engine.connect() as conn:
        status = dict(conn.execute(select(Event.event_id, Event.status)).all())
    res.accepted = len(ids & set(sender.accepted))
    never = ids - set(sender.accepted)
    unapplied = {e for e in ids & set(sender.accepted)
                 if status.get(e) not in ("applied", "stale")}
    res.lost = len(never) + len(unapplied)
    if never or unapplied:
        res.notes.append(f"never accepted {sorted(never)[:5]}, not applied "
                         f"{[(e, status.get(e)) for e in sorted(unapplied)[:5]]}")
    stored = normalise(stored_pairs(engine))
    wrong = {k for k in expected.keys() | stored.keys() if expected.get(k) != stored.get(k)}
    res.mismatched = len(wrong)
    res.doubled = sum(1 for k in wrong if k in stored and (
        k not in expected or stored[k][0] > expected[k][0] or stored[k][2] > expected[k][2]))
    if wrong:
        res.notes.append("pairs differing: " + "; ".join(
            f"{k}: stored {stored.get(k)}, expected {expected.get(k)}" for k in sorted(wrong)[:3]))
    windows = [(a, b + GRACE_S) for a, b in res.down]
    for t0, t1, st, eid in sender.responses:
        if st == 0:
            res.no_answer += 1
        if st >= 500 or st == 0:
            inside = any(t0 <= b and t1 >= a for a, b in windows)
            if st >= 500 and inside:
                res.e5xx_inside += 1
            elif st >= 500:
                res.e5xx_outside += 1
                res.outside_samples.append((t0, st, eid))
    # Lists: each customer's list under the active version, no write to any other version.
    res.active = publish_active(r)
    res.orphaned = r.hlen("unacked")
    for key in r.scan_iter(match="dmfrec:v:*:user:*", count=1000):
        version = key.split(":")[2]
        if version == res.active:
            res.lists_active += 1
        elif r.ttl(key) == -1:
            res.lists_foreign += 1  # a list of a version nobody reads, never expiring
    customers = sorted({k for k, _ in expected})
    res.customers = len(customers)
    if res.active:
        from worker import publish

        pipe = r.pipeline(transaction=False)
        for c in customers:
            pipe.exists(publish.user_key(res.active, c))
        res.customers_with_list = sum(pipe.execute())


# ---------------------------------------------------------------- report


def table(results: list[Result]) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    rows = ["| scenario | events sent / deliveries | accepted | lost | counted twice | "
            "pairs ≠ truth (of) | 5xx in / out of down windows | no answer | down s | "
            "recover s | drain s | unacked left | crashes | "
            "lists: active / foreign; customers with a list | stale lists (checked); "
            "bought sets wrong | Redis restored s | ok |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|"]
    for x in results:
        down = sum(b - a for a, b in x.down)
        lists = (f"{x.lists_active} / {x.lists_foreign}; {x.customers_with_list} of "
                 f"{x.customers}" + (" (republished)" if x.republished else ""))
        rows.append(
            f"| {x.scenario}: {SCENARIOS[x.scenario]} | {x.sent} / {x.deliveries} | "
            f"{x.accepted} | {x.lost} | {x.doubled} | {x.mismatched} ({x.truth_pairs}) | "
            f"{x.e5xx_inside} / {x.e5xx_outside} | {x.no_answer} | "
            f"{f(down) if x.down else '-'} | {f(x.recover_s)} | {f(x.drain_s)} | {x.orphaned} | "
            f"{len(x.restarts)} | "
            f"{lists} | {x.lists_stale} ({x.lists_checked}); "
            f"{'-' if x.bought_missing is None else x.bought_missing} | "
            f"{f(x.restored_s)} | "
            f"{'yes' if x.ok else 'NO'} |")
    return "\n".join(rows)


@contextlib.contextmanager
def environment(tmp: Path | None = None) -> Iterator[tuple[Services, Path]]:
    """Private services in a temporary folder, always stopped and removed."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_term) if main else None
    with tempfile.TemporaryDirectory(prefix="dmfrec-faults-") as d:
        root = tmp or Path(d)
        services = Services(root)
        try:
            services.start()
            yield services, root
        finally:
            services.close()
            if main:
                signal.signal(signal.SIGTERM, previous)


def _exit_on_term(_signum: int, _frame: Any) -> None:
    """SIGTERM (a CI timeout): unwind, so every `finally` stops the processes started."""
    raise SystemExit(143)


def run(scenarios: list[str], n_orders: int, rate: float, history: int = 300,
        log: Callable[[str], None] = print, orders_for: dict[str, int] | None = None
        ) -> list[Result]:
    """Every scenario in turn on one pair of private services (fresh database each)."""
    orders = load_orders(history + max([n_orders, *(orders_for or {}).values()]))
    log(f"orders: {'Online Retail' if DATA.is_dir() else 'synthetic'}, history {history}, "
        f"replay {orders_for or n_orders}")
    version: list[str] = []
    results = []
    with environment() as (services, root):
        model_dir = root / "models"
        for s in scenarios:
            tmp = root / f"scenario-{s}"
            tmp.mkdir()
            n = (orders_for or {}).get(s, n_orders)
            res = run_scenario(s, services, tmp, orders[:history + n], history, rate,
                               model_dir, version, log)
            log(table([res]))
            for note in [*res.restarts, *res.notes]:
                log(f"  note: {note}")
            results.append(res)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders replayed per scenario")
    parser.add_argument("--history", type=int, default=300, help="orders ingested before")
    parser.add_argument("--rate", type=float, default=25.0, help="deliveries per second")
    parser.add_argument("--scenarios", default="a,b,c,d")
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    t0 = time.monotonic()
    results = run(scenarios, args.orders, args.rate, args.history)
    print(f"\nmachine: {machine()}")
    print(f"settings: --orders {args.orders} --history {args.history} --rate {args.rate:g}; "
          f"5xx grace {GRACE_S:g} s; total {time.monotonic() - t0:.0f} s\n")
    print(table(results))
    return 0 if all(x.ok for x in results) else 1


if __name__ == "__main__":
    sys.exit(main())
