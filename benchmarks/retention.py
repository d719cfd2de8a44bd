"""What the data lifecycle keeps: database growth per event and Redis growth per customer,
before and after compaction, retention and bought-set expiry (issue 16).

A slice of the Online Retail history (``../shared/data/online-retail``, as Magento-shaped order
events: benchmarks.replay.history_events) is ingested into a fresh MariaDB database on the local
server (the path the worker takes: record, apply, compact). Measured, after ``OPTIMIZE TABLE``:

- after: every table as the code now leaves it (applied events compact: no email, no extras);
- before: the same rows with each event's payload set back to the body as received (what was
  kept until now), so the difference is the payload alone.

Redis (a private redis-server): the bought sets rebuilt from the database
(worker.recovery.rebuild_bought_sets) with the training window (after: customers of the window,
expiring) and without one (before: every customer ever, never expiring), by ``MEMORY USAGE``.
A projection to the whole year of the CSVs follows: events kept with DMFREC_EVENT_RETENTION_DAYS
against all of them, customers of the last window against all customers.

    .venv/bin/python -m benchmarks.retention [--rows 40000] [--window-days 92]
        [--retention-days 30]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from benchmarks.live import machine
from benchmarks.replay import history_events, private_redis
from config.settings import Settings
from storage import schema
from storage.db import make_engine
from storage.ingestion import ingest
from storage.models import Event

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "online-retail"
SERVER = "mysql+pymysql://root@127.0.0.1:3306/test"
TABLES = ("events", "orders", "order_lines", "interactions", "products")


def table_bytes(engine) -> dict[str, int]:
    """data + index bytes of each table, after OPTIMIZE (rebuilt, so pages are tight)."""
    out = {}
    with engine.connect() as conn:
        for name in TABLES:
            conn.exec_driver_sql(f"OPTIMIZE TABLE `{name}`").all()
            conn.exec_driver_sql(f"ANALYZE TABLE `{name}`").all()
            data, index = conn.exec_driver_sql(
                "SELECT data_length, index_length FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = %s", (name,)).one()
            out[name] = int(data) + int(index)
    return out


def payload_bytes(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.sum(func.length(Event.payload)))).scalar() or 0)


def bought_memory(settings: Settings) -> tuple[int, int]:
    """(customers with a bought set, bytes of those sets by MEMORY USAGE)."""
    from worker import publish, recovery
    from worker.runtime import Runtime

    rt = Runtime.from_settings(settings)
    try:
        rt.redis.flushdb()
        recovery.rebuild_bought_sets(rt)
        keys = list(rt.redis.scan_iter(match=publish.bought_key("*"), count=1000))
        pipe = rt.redis.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        return len(keys), int(sum(pipe.execute()))
    finally:
        rt.engine.dispose()
        rt.redis.close()


def year_figures(data: Path, window_days: int, retention_days: int) -> dict[str, float]:
    """From the CSVs: orders (and credit notes), customers, the last window's customers."""
    invoices: dict[str, datetime] = {}
    last_seen: dict[str, datetime] = {}
    for path in sorted(data.glob("*.csv")):
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            for row in csv.DictReader(fh):
                at = datetime.fromisoformat(row["InvoiceDate"])
                invoices.setdefault(row["InvoiceNo"], at)
                if row["CustomerID"]:
                    last_seen[row["CustomerID"]] = max(at, last_seen.get(row["CustomerID"], at))
    first, last = min(invoices.values()), max(invoices.values())
    days = (last - first).total_seconds() / 86400
    since = last - timedelta(days=window_days)
    return {"invoices": len(invoices), "days": days,
            "kept_share": min(1.0, retention_days / days),
            "customers": len(last_seen),
            "window_customers": sum(1 for at in last_seen.values() if at >= since)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=40_000, help="CSV rows of the slice")
    parser.add_argument("--window-days", type=int, default=92)
    parser.add_argument("--retention-days", type=int, default=30)
    parser.add_argument("--server", default=SERVER, help="MariaDB server URL (root)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        parser.error(f"{DATA} not found")
    t0 = time.monotonic()
    events, _ = history_events(DATA, args.rows)
    server = create_engine(args.server, isolation_level="AUTOCOMMIT")
    name = f"dmfrec_bench_retention_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                             "COLLATE utf8mb4_bin")
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    try:
        schema.upgrade(url)
        engine = make_engine(url)
        raw = {}
        for lo in range(0, len(events), 200):
            chunk = [e.body for e in events[lo:lo + 200]]
            ingest(engine, chunk)
            raw.update((json.loads(body)["event_id"], body.decode()) for body in chunk)
        with engine.connect() as conn:
            n_events = conn.execute(select(func.count()).select_from(Event)).scalar()
            n_customers = conn.execute(text(
                "SELECT COUNT(DISTINCT customer_key) FROM interactions")).scalar()
        after = table_bytes(engine)
        after_payload = payload_bytes(engine)
        with engine.begin() as conn:  # what the code kept until now: the body as received
            conn.execute(update(Event).where(Event.event_id == bindparam("eid"))
                         .values(payload=bindparam("body")),
                         [{"eid": k, "body": v} for k, v in raw.items()])
        before = table_bytes(engine)
        before_payload = payload_bytes(engine)
        with private_redis() as (_r, _proc, redis_url):
            base = Settings(database_url=url, redis_url=redis_url, broker_url=redis_url)
            kept, kept_bytes = bought_memory(base.model_copy(
                update={"window_days": args.window_days}))
            ever, ever_bytes = bought_memory(base.model_copy(update={"window_days": 0}))
        engine.dispose()
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        server.dispose()
    year = year_figures(DATA, args.window_days, args.retention_days)

    def kib(n: float) -> str:
        return f"{n / 1024:.2f}"

    print(f"machine: {machine()}")
    print(f"slice: first {args.rows} CSV rows: {n_events} events, {n_customers} customers; "
          f"{time.monotonic() - t0:.0f} s\n")
    print("| table | before: KiB per event | after | before: KiB per customer | after |")
    print("|---|---:|---:|---:|---:|")
    for name_ in (*TABLES, "all"):
        b = sum(before.values()) if name_ == "all" else before[name_]
        a = sum(after.values()) if name_ == "all" else after[name_]
        print(f"| {name_} | {kib(b / n_events)} | {kib(a / n_events)} | "
              f"{kib(b / n_customers)} | {kib(a / n_customers)} |")
    print(f"\nevents.payload: {before_payload / n_events:.0f} B per event as received, "
          f"{after_payload / n_events:.0f} B compact")
    print(f"bought sets: before {ever} customers, {ever_bytes / max(ever, 1):.0f} B each, no TTL;"
          f" after {kept} customers (window {args.window_days} days), "
          f"{kept_bytes / max(kept, 1):.0f} B each, expiring")
    share = year["window_customers"] / year["customers"]
    per_year = year["invoices"]  # about one event per invoice (orders, credit notes)
    events_before = per_year * before["events"] / n_events / 2**20
    events_after = per_year * year["kept_share"] * after["events"] / n_events / 2**20
    bought_each = ever_bytes / max(ever, 1)
    print(f"\nwhole CSV history: {year['invoices']} invoices over {year['days']:.0f} days, "
          f"{year['customers']} customers, {year['window_customers']} in the last "
          f"{args.window_days} days ({share:.0%}); events kept with {args.retention_days}-day "
          f"retention: {year['kept_share']:.0%} of a year's")
    print(f"projection: events table {events_before:.1f} MiB per year, growing (before) -> "
          f"{events_after:.1f} MiB held (after); bought sets "
          f"{year['customers'] * bought_each / 2**20:.2f} MiB, growing with every customer ever "
          f"(before) -> {year['window_customers'] * bought_each / 2**20:.2f} MiB, the window's "
          f"customers (after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
