"""Raw impressions and clicks past the retention window become per day/arm/SKU counts, on
MariaDB and SQLite: the table grows with SKUs and days, not with traffic; nothing is counted
twice or lost, and the dashboard's daily figures are the same before and after."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from storage.analytics import daily_figures, record_events, roll_up
from storage.analytics_models import RecDaily, RecEvent

NOW = datetime(2026, 11, 30, 12, 0, 0)


def _traffic(engine, day: datetime, visitors: int, tag: str) -> None:
    rows = []
    for v in range(visitors):
        for k, sku in enumerate(("A", "B", "C"), 1):
            rows.append({"rec_id": f"{tag}{v:010d}".ljust(32, "0"), "sku": sku,
                         "kind": "impression", "position": k, "subject": str(v),
                         "experiment": "ab", "arm": "dmf" if v % 2 else "popular",
                         "version": "v1", "at": day + timedelta(minutes=v % 600)})
            if (v + k) % 5 == 0:
                rows.append(rows[-1] | {"kind": "click"})
    record_events(engine, rows)


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def test_roll_up_keeps_counts_and_shrinks_tables(engine):
    old1, old2, recent = (NOW - timedelta(days=40), NOW - timedelta(days=39),
                          NOW - timedelta(days=2))
    _traffic(engine, old1.replace(hour=0), 300, "a")
    _traffic(engine, old2.replace(hour=0), 200, "b")
    _traffic(engine, recent.replace(hour=0), 50, "c")
    since = NOW - timedelta(days=60)
    before = daily_figures(engine, since)
    raw_before = _count(engine, RecEvent)
    rolled = roll_up(engine, 30, now=NOW)
    assert rolled == raw_before - _count(engine, RecEvent) > 0
    assert daily_figures(engine, since) == before  # same figures, whoever holds them
    # 2 days x 2 arms x 3 SKUs x 2 kinds, whatever the traffic was.
    assert _count(engine, RecDaily) == 24
    with engine.connect() as conn:
        assert conn.scalar(select(func.sum(RecDaily.subjects))
                           .where(RecDaily.kind == "impression")) == (300 + 200) * 3
    assert roll_up(engine, 30, now=NOW) == 0  # nothing left to roll, nothing counted twice
    assert daily_figures(engine, since) == before
    assert _count(engine, RecEvent) == 50 * 3 + sum(1 for v in range(50) for k in (1, 2, 3)
                                                    if (v + k) % 5 == 0)
