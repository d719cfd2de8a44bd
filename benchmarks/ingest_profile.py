"""Where a worker's batch goes: Online Retail order events applied with `process_batch`.

The first --events snapshot events of the Online Retail history (as `benchmarks.replay` sends
them: each order when placed, and again when a cancellation refunded it) are stored as pending
in a fresh database (MariaDB by default; dropped at the end), then applied as a worker would:
`process_batch` claims --batch events per transaction, and each batch's orders are credited
(`storage.analytics.attribute`, as `worker.attribution` does) unless --no-attribution. No
Celery, Redis or fold-in: only the database work of ingestion, in this one process. With
--worker, every event goes through `worker.live.process_event` instead, as its Celery task
would run it (batch, attribution, bought sets in a private Redis; no model, no broker).

Printed: events/s and order lines/s of the timed part, seconds per batch, the CPU seconds of
this process and of the local MariaDB server (on a shared machine they vary less than the wall
time), and (--profile) a cProfile top list. --warm K applies the first K events before the
clock starts, so the timed batches meet a populated database. The interactions table is then
checked against a full recomputation from the stored lines (`aggregate_query`): a faster path
must not change it.

    .venv/bin/python -m benchmarks.ingest_profile [--rows 60000] [--events 1500] [--warm 500]
        [--batch 64] [--backend mariadb|sqlite] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select

from benchmarks.ingest import Databases
from benchmarks.replay import DATA, GUEST_SALT, WINDOW_DAYS, history_events, private_redis
from config.settings import Settings
from storage import analytics, schema
from storage.db import make_engine
from storage.ingestion import Policy, aggregate_query, process_batch, utcnow  # (1)
from storage.models import Event, Interaction
from worker import live
from worker.runtime import Runtime

ATTRIBUTION_DAYS = 7
# (1) aggregate_query through storage.ingestion, so that this driver also runs on the code
# before issue #17 (a before/after in one run).


def store_pending(engine: Engine, bodies: list[bytes]) -> tuple[list[str], int]:
    """The events as the webhook records them (pending, raw body), in one bulk insert; their
    ids keep the time order, which the claim follows. Returns their ids and order lines."""
    now, rows, lines = utcnow(), [], 0
    for body in bodies:
        data = json.loads(body)
        lines += len(data["order"]["items"])
        rows.append({"event_id": data["event_id"], "order_id": data["order"]["entity_id"],
                     "order_updated_at": datetime.fromisoformat(data["order"]["updated_at"]),
                     "received_at": now,
                     "processed_at": None, "status": "pending", "error": None,
                     "payload": body.decode()})
    with engine.begin() as conn:
        for start in range(0, len(rows), 500):
            conn.execute(insert(Event.__table__), rows[start:start + 500])
    return [r["event_id"] for r in rows], lines


def apply_all(engine: Engine, policy: Policy, batch: int, attribution: bool,
              limit: int | None = None) -> int:
    """Batches until nothing is pending (or `limit` events were claimed); events claimed."""
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        claimed = process_batch(engine, None, size, policy)
        if not claimed.outcomes:
            break
        if attribution:
            analytics.attribute(engine, set(claimed.orders.values()), policy,
                                ATTRIBUTION_DAYS)
        done += len(claimed.outcomes)
    return done


def server_cpu_s() -> float | None:
    """CPU seconds of the local MariaDB server so far (None: not on this machine). Other
    clients of the same server count too: only meaningful on a quiet server."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            if fields[0].endswith(("(mariadbd", "(mysqld")):
                utime, stime = fields[1].split()[11:13]
                return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return None


def run_tasks(rt: Runtime, event_ids: list[str]) -> int:
    """What the Celery ingest tasks do, one per event in order (`worker.live.process_event`:
    the first claims a batch and refreshes its customers, the batch's own tasks find it done),
    without the broker."""
    for event_id in event_ids:
        live.process_event(rt, event_id)
    return len(event_ids)


def check_pairs(engine: Engine, policy: Policy) -> int:
    """The stored interactions equal a recomputation from the lines; returns their count."""
    cols = ("qty", "amount", "order_count", "first_at", "last_at")
    with engine.connect() as conn:
        truth = {(r.customer_key, r.sku): tuple(getattr(r, c) for c in cols)
                 for r in conn.execute(aggregate_query(policy))}
        t = Interaction.__table__
        stored = {(r.customer_key, r.sku): (r.qty, r.amount, r.order_count,
                                            r.first_purchase_at, r.last_purchase_at)
                  for r in conn.execute(select(t))}
    if stored != truth:
        wrong = sorted(set(stored.items()) ^ set(truth.items()))[:5]
        raise AssertionError(f"interactions differ from the lines: {wrong}")
    return len(stored)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="online-retail folder")
    ap.add_argument("--rows", type=int, default=60_000, help="first N CSV rows")
    ap.add_argument("--events", type=int, default=1500, help="events applied (after --warm)")
    ap.add_argument("--warm", type=int, default=500, help="events applied before timing")
    ap.add_argument("--batch", type=int, default=64, help="events per transaction")
    ap.add_argument("--backend", choices=("mariadb", "sqlite"), default="mariadb")
    ap.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    ap.add_argument("--no-attribution", action="store_true")
    ap.add_argument("--worker", action="store_true",
                    help="one worker.live.process_event per event (private Redis)")
    ap.add_argument("--profile", action="store_true", help="cProfile the timed part")
    ap.add_argument("--top", type=int, default=30, help="lines of the cProfile list")
    args = ap.parse_args()

    outgoing, info = history_events(args.data, args.rows)
    bodies = [e.body for e in outgoing[: args.warm + args.events]]
    policy = Policy(guest_salt=GUEST_SALT)
    dbs = Databases(args.mysql_url)
    with contextlib.ExitStack() as stack:
        stack.callback(dbs.close)
        url = dbs.new(args.backend, "profile")
        schema.upgrade(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        if args.worker:
            redis_url = stack.enter_context(private_redis())[2]
            rt = Runtime.from_settings(Settings(
                database_url=url, redis_url=redis_url, broker_url=redis_url,
                guest_salt=GUEST_SALT, ingest_batch=args.batch, window_days=WINDOW_DAYS,
                attribution_days=ATTRIBUTION_DAYS))
            stack.callback(rt.engine.dispose)

        def apply(ids: list[str]) -> int:
            if args.worker:
                return run_tasks(rt, ids)
            return apply_all(engine, policy, args.batch, not args.no_attribution)

        apply(store_pending(engine, bodies[: args.warm])[0])
        ids, lines = store_pending(engine, bodies[args.warm:])
        profiler = cProfile.Profile() if args.profile else None
        started, cpu, server = time.perf_counter(), time.process_time(), server_cpu_s()
        if profiler:
            profiler.enable()
        n = apply(ids)
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        server = None if server is None else server_cpu_s() - server
        pairs = check_pairs(engine, policy)
    print(f"machine: {platform.node()} ({platform.processor() or platform.machine()}), "
          f"backend {args.backend}, source {info['orders']} orders")
    mode = ("worker tasks (process_event)" if args.worker else
            f"process_batch, attribution {'off' if args.no_attribution else 'on'}")
    print(f"timed: {n} events ({lines} order lines) after {args.warm} warm-up, batch "
          f"{args.batch}, {mode}: "
          f"{seconds:.2f} s, {n / seconds:.1f} events/s, {lines / seconds:.0f} lines/s, "
          f"{seconds / max(1, -(-n // args.batch)):.3f} s/batch; interactions {pairs} "
          "(equal to a recomputation)")
    print(f"CPU: this process {cpu:.2f} s ({1000 * cpu / n:.2f} ms/event)"
          + (f", MariaDB server {server:.2f} s ({1000 * server / n:.2f} ms/event)"
             if server is not None and args.backend == "mariadb" else ""))
    if profiler:
        for key in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(args.top)
            print(out.getvalue())


if __name__ == "__main__":
    main()
