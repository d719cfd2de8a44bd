"""How the analytics tables grow: raw impressions/clicks against their daily roll-up.

Per backend, into a fresh migrated database: a week of synthetic storefront traffic
(`--visitors` per day, each shown 5 SKUs of a `--skus` catalogue, half per arm, 5 % of cards
clicked) is recorded as the analytics endpoint records it, then rolled up
(storage.analytics.roll_up). Prints rows and bytes before and after: the raw table grows
with traffic, the roll-up with days x arms x SKUs x kinds only.

    .venv/bin/python -m benchmarks.analytics_growth [--visitors 1000,10000] [--skus 500]
        [--backends sqlite,mariadb]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from storage import schema
from storage.analytics import record_events, roll_up
from storage.analytics_models import RecDaily, RecEvent
from storage.db import make_engine

DAYS = 7
START = datetime(2026, 1, 1)


def _traffic(engine, visitors: int, skus: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for d in range(DAYS):
        rows = []
        for v in range(visitors):
            shown = rng.choice(skus, 5, replace=False)
            rec = uuid.uuid4().hex
            arm = "dmf" if v % 2 else "popular"
            at = START + timedelta(days=d, seconds=int(rng.integers(86_400)))
            for k, s in enumerate(shown, 1):
                row = {"rec_id": rec, "sku": f"SKU-{s}", "kind": "impression", "position": k,
                       "subject": f"{d}-{v}", "experiment": "ab", "arm": arm,
                       "version": "v1", "at": at}
                rows.append(row)
                if rng.random() < 0.05:
                    rows.append(row | {"kind": "click"})
        record_events(engine, rows)


def _size(engine, table: str) -> int | None:
    if engine.dialect.name not in ("mysql", "mariadb"):
        return None
    with engine.connect() as conn:
        conn.execute(text(f"ANALYZE TABLE {table}"))
        return conn.scalar(text(
            "SELECT data_length + index_length FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = :t"), {"t": table})


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--visitors", default="1000,10000")
    p.add_argument("--skus", type=int, default=500)
    p.add_argument("--backends", default="sqlite,mariadb")
    p.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    args = p.parse_args()
    print("| backend | visitors/day | raw rows (7 days) | raw bytes | rolled-up rows | "
          "rolled-up bytes | roll-up s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            for visitors in (int(v) for v in args.visitors.split(",")):
                server = None
                if backend == "mariadb":
                    name = f"dmfrec_bench_{uuid.uuid4().hex[:8]}"
                    server = create_engine(args.mysql_url, isolation_level="AUTOCOMMIT")
                    with server.connect() as conn:
                        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                                             "COLLATE utf8mb4_bin")
                    url = make_url(args.mysql_url).set(database=name).render_as_string(
                        hide_password=False)
                else:
                    url = f"sqlite:///{Path(tmp) / f'{visitors}.db'}"
                schema.upgrade(url)
                engine = make_engine(url)
                try:
                    _traffic(engine, visitors, args.skus)
                    raw, raw_bytes = _count(engine, RecEvent), _size(engine, "rec_events")
                    started = time.perf_counter()
                    roll_up(engine, 0, now=START + timedelta(days=DAYS))
                    took = time.perf_counter() - started
                    daily, daily_bytes = _count(engine, RecDaily), _size(engine, "rec_daily")
                    print(f"| {backend} | {visitors} | {raw} | {raw_bytes or '-'} | {daily} | "
                          f"{daily_bytes or '-'} | {took:.1f} |")
                finally:
                    engine.dispose()
                    if server is not None:
                        with server.connect() as conn:
                            conn.exec_driver_sql(f"DROP DATABASE `{name}`")
                        server.dispose()


if __name__ == "__main__":
    main()
