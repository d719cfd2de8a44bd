"""Retention of received events: processed events leave after DMFREC_EVENT_RETENTION_DAYS.

Applied and stale events already keep only their compact form (storage.ingestion.compact_body:
no email, no address); failed ones keep their raw body so they can be retried after a fix.
Past the retention period both go: a redelivery of a purged event is recorded again and
applied as a snapshot no newer than the order's (nothing changes), so idempotency does not
depend on keeping them. Pending events are never purged.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from storage.db import run_transaction
from storage.ingestion import EVENTS, utcnow

PROCESSED = ("applied", "stale", "failed")


def purge_events(engine_or_url: Engine | str | None, retention_days: int,
                 batch: int = 5000) -> int:
    """Delete events processed more than `retention_days` ago (0: keep forever), in short
    transactions of `batch` rows; returns how many were deleted."""
    if retention_days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=retention_days)
    total = 0
    while True:
        def work(session: Session) -> int:
            ids = list(session.scalars(
                select(EVENTS.c.id).where(EVENTS.c.status.in_(PROCESSED),
                                          EVENTS.c.received_at < cutoff,
                                          EVENTS.c.processed_at < cutoff)
                .order_by(EVENTS.c.id).limit(batch)))
            if ids:
                session.execute(delete(EVENTS).where(EVENTS.c.id.in_(ids)))
            return len(ids)

        done = run_transaction(engine_or_url, work)
        total += done
        if done < batch:
            return total
