"""The whole Online Retail history replayed through the signed webhook, as fast as it accepts.

Every invoice becomes one Magento order event (our snapshot, as the module sends it); an order
that a cancellation invoice refunded is sent twice, as Magento would: when placed (nothing
refunded) and again when the credit memo came (the refund in the snapshot). Dates are shifted so
the history ends an hour ago, inside the training window. Events go out in time order from
--senders keep-alive connections, each signed when sent (Standard Webhooks headers).

1. History: the first --train-share of the events, as fast as accepted; wait until every event
   is applied; then the nightly retrain (DMF, --epochs) makes the first active model.
2. Live: the rest, as fast as accepted, now folded in through that model. Freshness is the time
   from a POST to the first rewrite of the customer's list in Redis (keyspace notifications),
   for customers with exactly one event in this phase (so the rewrite is theirs).
Reported: accepted events/s and non-2xx answers per phase, time to drain the queue, applied
events/s (accepted events over the phase and its drain), the batches' fill, the workers' row-lock
waits and deadlocks (MariaDB's server-wide counters), the CPU
milliseconds an event cost each role in each phase (webhook, worker, Redis, MariaDB, this
process's senders), freshness p50/p95, event statuses (none lost, none pending), and each
process's peak memory (VmHWM).

It runs gunicorn ('webhook:create_app()', gunicorn.conf.py, --workers) and a Celery ingest
worker (prefork, --concurrency) as real processes, against a fresh MariaDB database (migrated,
dropped at the end) and a private redis-server on a free port (stopped at the end).

    .venv/bin/python -m benchmarks.replay [--senders 8] [--workers 2] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis as redis_lib
from sqlalchemy import func, select
from tqdm import tqdm

from benchmarks.live import (
    WEBHOOK_PATH,
    Arrivals,
    fresh_database,
    machine,
    started,
    wait_healthy,
)
from benchmarks.machine import free_port, start_redis
from benchmarks.magento_fixture import build_magento_db, csv_files, read_csv
from config.settings import Settings
from storage.db import make_engine
from storage.magento_import import read_orders
from storage.models import Event, Interaction
from webhook import signing
from worker import publish
from worker.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "online-retail"
SECRET = "bench-replay-webhook-secret-0123456789"
GUEST_SALT = "bench-replay-guest-salt-0123456789"
WINDOW_DAYS = 400  # the whole year of history trains and folds in, whatever the split point


@dataclass
class Outgoing:
    at: datetime  # when Magento would send it (placed, or refunded)
    customer: str | None  # the list it should rewrite (registered customers only)
    body: bytes


def history_events(data: Path, max_rows: int | None) -> tuple[list[Outgoing], dict]:
    """Order events in time order, from a Magento-shaped copy of the CSVs (SQLite, temporary)."""
    with tempfile.TemporaryDirectory(prefix="dmfrec_replay_src_") as tmp:
        source = make_engine(f"sqlite:///{tmp}/magento.db")
        summary = build_magento_db(source, read_csv(csv_files(data), max_rows=max_rows))
        snapshots = [o for valid, _rej, _n in read_orders(source, chunk_size=5000) for o in valid]
        source.dispose()
    shift = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1) - max(
        o.updated_at.replace(tzinfo=None) for o in snapshots)
    out: list[Outgoing] = []
    for o in snapshots:
        final = o.model_dump(mode="json")
        placed_at = o.created_at.replace(tzinfo=None) + shift
        changed_at = o.updated_at.replace(tzinfo=None) + shift
        customer = None if o.customer_is_guest or o.customer_id is None else str(o.customer_id)
        versions = [(changed_at, final)]
        # Same second (a cancellation invoice stamped with the order's time): one snapshot.
        if changed_at > placed_at and any(float(it.qty_refunded) > 0 for it in o.items):
            placed = json.loads(json.dumps(final))
            for it in placed["items"]:
                it["qty_refunded"] = "0"
            versions.insert(0, (placed_at, placed))
        for at, snap in versions:
            snap["created_at"] = placed_at.strftime("%Y-%m-%d %H:%M:%S")
            snap["updated_at"] = at.strftime("%Y-%m-%d %H:%M:%S")
            body = {"event_id": f"replay-{o.entity_id}-{at:%Y%m%d%H%M%S}", "order": snap}
            out.append(Outgoing(at, customer, json.dumps(body, separators=(",", ":")).encode()))
    out.sort(key=lambda e: e.at)
    if len({json.loads(e.body)["event_id"] for e in out}) != len(out):
        raise RuntimeError("two events share an event id: the later would be a duplicate")
    return out, {"orders": len(snapshots), "fixture": str(summary)}


@dataclass
class Sent:
    statuses: Counter = field(default_factory=Counter)
    times: dict[int, float] = field(default_factory=dict)  # event index -> POST start
    seconds: float = 0.0


def send_all(base: str, events: list[Outgoing], indices: list[int], senders: int,
             desc: str) -> Sent:
    """POST the events from `senders` threads, each on its own keep-alive connection; a
    connection error is answered like a 5xx (Magento would retry): one new try, then counted."""
    host, port = base.removeprefix("http://").split(":")
    result, lock, next_k = Sent(), threading.Lock(), itertools.count()
    bar = tqdm(total=len(indices), desc=desc, unit="event", smoothing=0.05)

    def sender() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while (k := next(next_k)) < len(indices):
            i = indices[k]
            status = 0
            for _attempt in (1, 2):
                headers = {"Content-Type": "application/json",
                           **signing.signed_headers(SECRET, events[i].body,
                                                    msg_id=f"msg_replay_{i}")}
                started = time.monotonic()
                try:
                    conn.request("POST", WEBHOOK_PATH, events[i].body, headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
            with lock:
                result.statuses[status] += 1
                result.times[i] = started
                bar.update()
        conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - t0
    bar.close()
    return result


def batches_so_far(rt: Runtime) -> tuple[int, int]:
    """(batches, events) applied or stale so far: a batch's events share one processed_at
    (storage.ingestion marks them together), so a phase's difference says how full its
    batches were, which decides a worker's cost per event (issue 17)."""
    with rt.reading() as session:
        batches, done = session.execute(
            select(func.count(func.distinct(Event.processed_at)), func.count())
            .where(Event.status.in_(("applied", "stale")))).one()
    return int(batches), int(done)


LOCK_STATUS = ("Innodb_row_lock_time", "Innodb_row_lock_waits", "Innodb_deadlocks")


def lock_status(rt: Runtime) -> dict[str, int]:
    """The MariaDB server's row-lock counters (server-wide: nothing else should write while a
    phase runs). A phase's differences say how long the two workers' batches waited on each
    other's row locks (the hot rows: popular SKUs, repeat customers) and how many deadlocked
    (each rolled back and run again)."""
    with rt.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ("
            + ", ".join(f"'{name}'" for name in LOCK_STATUS) + ")").all()
    return {name: int(value) for name, value in rows}


def _locks(before: dict[str, int], after: dict[str, int]) -> dict:
    diff = {k: after.get(k, 0) - before.get(k, 0) for k in LOCK_STATUS}
    return {"row_lock_wait_s": round(diff["Innodb_row_lock_time"] / 1000, 1),
            "row_lock_waits": diff["Innodb_row_lock_waits"],
            "deadlocks": diff["Innodb_deadlocks"]}


def counters(rt: Runtime, groups: dict[str, int]) -> tuple:
    """What a phase's figures are differences of: CPU seconds by role, batches so far, and
    the server's row-lock counters."""
    return cpu_seconds(groups), batches_so_far(rt), lock_status(rt)


def phase_figures(sent: Sent, drain_s: float, before: tuple, after: tuple, events: int) -> dict:
    """A phase's figures: `_phase`, then the differences of `counters` over it."""
    return (_phase(sent, drain_s) | _batches(before[1], after[1]) | _locks(before[2], after[2])
            | {"cpu_ms_per_event": _cpu_per_event(before[0], after[0], events)})


def _batches(before: tuple[int, int], after: tuple[int, int]) -> dict:
    batches, done = after[0] - before[0], after[1] - before[1]
    return {"batches": batches, "events_per_batch": round(done / max(1, batches), 1)}


def wait_applied(rt: Runtime, expected: int, timeout_s: float) -> tuple[float, Counter]:
    """Seconds until no event is pending and `expected` events are recorded; statuses."""
    t0 = time.monotonic()
    while True:
        with rt.reading() as session:
            counts = Counter(dict(session.execute(
                select(Event.status, func.count()).group_by(Event.status)).all()))
        if counts.get("pending", 0) == 0 and sum(counts.values()) >= expected:
            return time.monotonic() - t0, counts
        if time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"not drained after {timeout_s}s: {dict(counts)}")
        time.sleep(0.5)


class PeakMemory:
    """VmHWM (peak resident set) of every process in the given process groups, read just
    before they stop; the benchmark's own process (training) by getrusage."""

    def __init__(self) -> None:
        self.peaks: dict[int, tuple[str, int]] = {}

    def sample(self, pgid: int, role: str) -> None:
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(status.parent.name)
                if os.getpgid(pid) != pgid:
                    continue
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                              if ":" in line)
                kib = int(fields["VmHWM"].split()[0])
                old = self.peaks.get(pid, (role, 0))[1]
                self.peaks[pid] = (role, max(old, kib))

    def by_role(self) -> dict[str, list[int]]:
        roles: dict[str, list[int]] = {}
        for role, kib in self.peaks.values():
            roles.setdefault(role, []).append(round(kib / 1024))
        return {r: sorted(v, reverse=True) for r, v in roles.items()}


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far (user + system) of every process in each role's process group, of
    the MariaDB server, and of this process (the senders and the training): read at a phase's
    start and end, their differences say which role the phase's events cost the most."""
    tick = os.sysconf("SC_CLK_TCK")
    out = dict.fromkeys([*groups, "mariadbd"], 0.0)
    roles = {pgid: role for role, pgid in groups.items()}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            head, rest = stat.read_text().rsplit(")", 1)
            fields = rest.split()
            used = (int(fields[11]) + int(fields[12])) / tick
            role = roles.get(int(fields[2]))  # the process group
            if role is None and head.endswith(("(mariadbd", "(mysqld")):
                role = "mariadbd"
            if role is not None:
                out[role] += used
    out["benchmark process"] = time.process_time()
    return out


def _cpu_per_event(before: dict[str, float], after: dict[str, float], events: int
                   ) -> dict[str, float]:
    """Each role's CPU milliseconds per event of a phase."""
    return {role: round(1000 * (after[role] - before[role]) / events, 2) for role in after}


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[redis_lib.Redis, subprocess.Popen, str]]:
    """A private redis-server with keyspace notifications (freshness), stopped at the end."""
    proc, port = start_redis("--notify-keyspace-events", "K$")
    if proc is None:
        raise RuntimeError("the private redis-server did not start")
    r = redis_lib.Redis(port=port, decode_responses=True)
    try:
        yield r, proc, f"redis://127.0.0.1:{port}/0"
    finally:
        r.close()
        proc.terminate()
        proc.wait(timeout=10)


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="online-retail folder")
    ap.add_argument("--rows", type=int, help="only the first N CSV rows (default: all)")
    ap.add_argument("--senders", type=int, default=8, help="concurrent keep-alive connections")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    ap.add_argument("--concurrency", type=int, default=2, help="Celery ingest pool size")
    ap.add_argument("--train-share", type=float, default=0.7,
                    help="share of the history replayed before the first model is trained")
    ap.add_argument("--epochs", type=int, default=5, help="DMF epochs of that first training")
    ap.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: every process and database is cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not csv_files(args.data):
        ap.error(f"no Online Retail CSVs in {args.data}")
    if shutil.which("redis-server") is None:
        ap.error("redis-server is needed (Debian: apt-get install redis-server)")

    print(f"machine: {machine()}", flush=True)
    t0 = time.monotonic()
    events, source = history_events(args.data, args.rows)
    print(f"{len(events)} events from {source['orders']} orders ({source['fixture']}), "
          f"built in {time.monotonic() - t0:.0f}s", flush=True)
    split = int(len(events) * args.train_share)
    history, live = list(range(split)), list(range(split, len(events)))
    memory = PeakMemory()
    figures: dict = {"machine": machine(), "events": len(events), "orders": source["orders"],
                     "senders": args.senders, "gunicorn_workers": args.workers,
                     "celery_concurrency": args.concurrency}

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dmfrec_replay_")))
        r, redis_proc, redis_url = stack.enter_context(private_redis())
        db_url = stack.enter_context(fresh_database(args.mysql_url))
        settings = Settings(database_url=db_url, redis_url=redis_url, broker_url=redis_url,
                            model_dir=tmp / "models", webhook_secrets=SECRET,
                            guest_salt=GUEST_SALT,
                            train_epochs=args.epochs, fine_tune_after_events=0,
                            fine_tune_after_minutes=0, window_days=WINDOW_DAYS,
                            gate_holdout_days=0)
        rt = Runtime.from_settings(settings)
        stack.callback(rt.engine.dispose)
        env = {**os.environ, "PYTHONPATH": str(REPO), "DMFREC_DATABASE_URL": db_url,
               "DMFREC_REDIS_URL": redis_url, "DMFREC_BROKER_URL": redis_url,
               "DMFREC_WEBHOOK_SECRETS": SECRET, "DMFREC_MODEL_DIR": str(tmp / "models"),
               "DMFREC_GUEST_SALT": GUEST_SALT,
               "DMFREC_FINE_TUNE_AFTER_EVENTS": "0", "DMFREC_FINE_TUNE_AFTER_MINUTES": "0",
               "DMFREC_WINDOW_DAYS": str(WINDOW_DAYS), "DMFREC_GATE_HOLDOUT_DAYS": "0",
               "WEB_CONCURRENCY": str(args.workers)}
        port = free_port()
        (tmp / "prom").mkdir()
        web = stack.enter_context(started(
            [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{port}"],
            {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom")}, tmp / "gunicorn.log"))
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, web, tmp / "gunicorn.log")
        worker = stack.enter_context(started(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", "ingest",
             "-P", "prefork", "-c", str(args.concurrency), "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "replay@%h"],
            {**env, "OMP_NUM_THREADS": "1"}, tmp / "celery.log"))  # as docker-compose runs it

        def sample() -> None:
            memory.sample(os.getpgid(web.pid), "gunicorn")
            memory.sample(os.getpgid(worker.pid), "celery ingest worker")
            memory.sample(os.getpgid(redis_proc.pid), "redis-server")

        sampler_stop = threading.Event()

        def sampler() -> None:
            while not sampler_stop.wait(1.0):
                sample()

        threading.Thread(target=sampler, daemon=True).start()
        stack.callback(sampler_stop.set)

        groups = {"gunicorn": os.getpgid(web.pid), "celery ingest worker": os.getpgid(worker.pid),
                  "redis-server": os.getpgid(redis_proc.pid)}

        # 1. the history before the first model
        before = counters(rt, groups)
        sent = send_all(base, events, history, args.senders, "history (no model yet)")
        drain, _ = wait_applied(rt, len(history), 1800)
        figures["history"] = phase_figures(sent, drain, before, counters(rt, groups),
                                           len(history))
        print(f"history: {figures['history']}", flush=True)
        t1 = time.monotonic()
        from worker.training import nightly_retrain

        trained = nightly_retrain(rt, progress=True)
        version = publish.active_version(r)
        figures["first_training"] = {"seconds": round(time.monotonic() - t1, 1),
                                     "version": version,
                                     "published": {k: v for k, v in trained.items()
                                                   if isinstance(v, int | float | str)}}
        print(f"first training: {figures['first_training']}", flush=True)
        if not version:
            raise RuntimeError(f"no active model after training: {trained}")

        # 2. live: folded in through the active model
        arrivals = Arrivals(r, 0, [publish.user_key(version, "*")])
        stack.callback(arrivals.close)
        per_customer = Counter(events[i].customer for i in live)
        before = counters(rt, groups)
        sent = send_all(base, events, live, args.senders, "live (fold-in)")
        drain, statuses = wait_applied(rt, len(events), 1800)
        figures["live"] = phase_figures(sent, drain, before, counters(rt, groups), len(live))
        watched = [i for i in live if events[i].customer and per_customer[events[i].customer] == 1]
        keys = {i: publish.user_key(version, events[i].customer) for i in watched}
        arrivals.wait(list(keys.values()), 30)
        fresh = [(arrivals.times[keys[i]] - sent.times[i]) * 1000 for i in watched
                 if keys[i] in arrivals.times]
        figures["freshness_ms"] = {"watched": len(watched), "rewritten": len(fresh),
                                   "p50": round(pct(fresh, 50)), "p95": round(pct(fresh, 95)),
                                   "max": round(max(fresh)) if fresh else None}
        sample()
        with rt.reading() as session:
            figures["interactions"] = session.scalar(select(func.count()).select_from(Interaction))
        figures["mariadb_tables"] = table_sizes(rt)
        figures["event_statuses"] = dict(statuses)
        figures["lost"] = len(events) - sum(statuses.values())
        figures["redis_used_memory_mib"] = round(r.info("memory")["used_memory"] / 2**20, 1)
        figures["peak_rss_mib"] = memory.by_role()
        import resource

        figures["peak_rss_mib"]["benchmark process (sender + training)"] = [
            round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)]

    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def table_sizes(rt: Runtime) -> dict[str, dict]:
    """Rows and on-disk MiB (data + indexes, InnoDB's figures after ANALYZE) of each table."""
    out = {}
    with rt.engine.connect() as conn:
        names = [n for (n,) in conn.exec_driver_sql("SHOW TABLES")]
        for name in names:
            conn.exec_driver_sql(f"ANALYZE TABLE `{name}`").all()
            rows = conn.exec_driver_sql(f"SELECT COUNT(*) FROM `{name}`").scalar()
            data, index = conn.exec_driver_sql(
                "SELECT data_length, index_length FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = %s", (name,)).one()
            out[name] = {"rows": rows, "data_mib": round(data / 2**20, 1),
                         "index_mib": round(index / 2**20, 1)}
    return out


def _phase(sent: Sent, drain_s: float) -> dict:
    accepted = sum(n for s, n in sent.statuses.items() if 200 <= s < 300)
    return {"events": sum(sent.statuses.values()), "accepted": accepted,
            "non_2xx": {str(s): n for s, n in sent.statuses.items() if not 200 <= s < 300},
            "seconds": round(sent.seconds, 1), "accepted_per_s": round(accepted / sent.seconds),
            "drain_after_last_post_s": round(drain_s, 1),
            # every accepted event applied (or stale) by the end of the drain: the phase's
            # rate of application, beside accepted_per_s (the target: at least that)
            "applied_per_s": round(accepted / (sent.seconds + drain_s))}


if __name__ == "__main__":
    main()
