"""Event retention on MariaDB and SQLite: processed events leave after the retention period,
pending ones never do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from storage.ingestion import utcnow
from storage.models import Event
from storage.retention import purge_events


def test_processed_events_past_retention_are_purged(engine):
    now = utcnow()

    def row(eid: str, status: str, days: int) -> dict:
        at = now - timedelta(days=days)
        return {"event_id": eid, "order_id": 1, "order_updated_at": at, "received_at": at,
                "processed_at": None if status == "pending" else at, "status": status,
                "payload": "{}"}

    rows = [row(f"old-{s}", s, 40) for s in ("applied", "stale", "failed", "pending")]
    rows += [row(f"new-{s}", s, 5) for s in ("applied", "failed")]
    with engine.begin() as conn:
        conn.execute(insert(Event), rows)
    assert purge_events(engine, 0) == 0  # 0: keep forever
    assert purge_events(engine, 30, batch=2) == 3
    with engine.connect() as conn:
        left = set(conn.scalars(select(Event.event_id)))
    assert left == {"old-pending", "new-applied", "new-failed"}
