"""Ingestion throughput on the whole Online Retail history, on MariaDB and on SQLite.

1. builds a Magento-shaped database on MariaDB from the CSVs (benchmarks.magento_fixture);
2. per backend, into a fresh migrated database: `import_magento` (chunks of 500 orders per
   transaction) -> lines/s;
3. per backend, into another fresh database: the same orders as one webhook event each
   (JSON body -> `storage.ingestion.ingest`, one transaction per event: validation, event
   row, order, lines, products, pairs) -> events/s;
and checks that both paths produced the same interactions.

    .venv/bin/python -m benchmarks.ingest [--rows N] [--backends mariadb,sqlite]

MariaDB: `--mysql-url` (default mysql+pymysql://root@127.0.0.1:3306/test) names the server;
the benchmark creates and drops its own `dmfrec_bench_*` databases.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import make_url

from benchmarks.magento_fixture import build_magento_db, csv_files, read_csv
from storage import schema
from storage.db import make_engine
from storage.ingestion import Policy, ingest
from storage.magento_import import import_magento, read_orders
from storage.models import Interaction

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "online-retail"


class Databases:
    """Fresh databases on the MariaDB server and in a temporary folder; dropped at the end."""

    def __init__(self, mysql_url: str) -> None:
        self.mysql_url = mysql_url
        self.server = create_engine(mysql_url, isolation_level="AUTOCOMMIT")
        self.tmp = tempfile.TemporaryDirectory(prefix="dmfrec_bench_")
        self.names: list[str] = []

    def new(self, backend: str, tag: str) -> str:
        name = f"dmfrec_bench_{tag}_{uuid.uuid4().hex[:8]}"
        if backend == "sqlite":
            return f"sqlite:///{Path(self.tmp.name) / name}.db"
        with self.server.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        self.names.append(name)
        return make_url(self.mysql_url).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        with self.server.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        self.server.dispose()
        self.tmp.cleanup()


def fingerprint(engine: Engine) -> tuple:
    t = Interaction.__table__
    with engine.connect() as conn:
        n, qty, amount = conn.execute(
            select(func.count(), func.sum(t.c.qty), func.sum(t.c.amount))
        ).one()
    return n, round(float(qty or 0), 2), round(float(amount or 0), 2)


def bench_import(source: Engine, url: str, policy: Policy) -> tuple[dict, tuple]:
    schema.upgrade(url)
    target = make_engine(url)
    stats = import_magento(source, target, policy=policy, progress=False)
    result = {"orders": stats.orders, "lines": stats.lines, "seconds": round(stats.seconds, 1),
              "lines_per_s": round(stats.lines / stats.seconds),
              "orders_per_s": round(stats.orders / stats.seconds)}
    fp = fingerprint(target)
    target.dispose()
    return result, fp


def bench_events(bodies: list[bytes], n_lines: int, url: str, policy: Policy) -> tuple[dict, tuple]:
    schema.upgrade(url)
    target = make_engine(url)
    started = time.perf_counter()
    for body in bodies:
        ingest(target, [body], policy)
    seconds = time.perf_counter() - started
    result = {"events": len(bodies), "seconds": round(seconds, 1),
              "events_per_s": round(len(bodies) / seconds),
              "lines_per_s": round(n_lines / seconds)}
    fp = fingerprint(target)
    target.dispose()
    return result, fp


def event_bodies(source: Engine) -> tuple[list[bytes], int]:
    """One JSON webhook body per Magento order, as our module would send it."""
    bodies, n_lines = [], 0
    for valid, _rejected, _n in read_orders(source, chunk_size=2000):
        for order in valid:
            n_lines += len(order.items)
            body = {"event_id": f"order-{order.entity_id}-{order.updated_at.isoformat()}",
                    "order": order.model_dump(mode="json")}
            bodies.append(json.dumps(body).encode())
    return bodies, n_lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="online-retail folder")
    ap.add_argument("--rows", type=int, help="only the first N CSV rows (default: all)")
    ap.add_argument("--backends", default="mariadb,sqlite")
    ap.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    args = ap.parse_args()
    policy = Policy()
    dbs = Databases(args.mysql_url)
    try:
        source = make_engine(dbs.new("mariadb", "magento"))
        t0 = time.perf_counter()
        summary = build_magento_db(source, read_csv(csv_files(args.data), max_rows=args.rows))
        print(f"machine: {platform.node()} ({platform.processor() or platform.machine()})")
        print(f"magento fixture: {summary} in {time.perf_counter() - t0:.1f}s")
        bodies, n_lines = event_bodies(source)
        for backend in args.backends.split(","):
            imported, fp_import = bench_import(source, dbs.new(backend, "import"), policy)
            print(f"{backend:8s} import magento: {imported}")
            events, fp_events = bench_events(bodies, n_lines, dbs.new(backend, "events"), policy)
            print(f"{backend:8s} one event per order: {events}")
            assert fp_import == fp_events, (fp_import, fp_events)
            print(f"{backend:8s} interactions (rows, qty, amount), both paths: {fp_import}")
        source.dispose()
    finally:
        dbs.close()


if __name__ == "__main__":
    main()
