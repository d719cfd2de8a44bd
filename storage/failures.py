"""Events whose application fails for a reason other than an outage: counted, then finalised.

A snapshot that the database refuses (amounts past `Money(20,4)`, an integrity or data error)
fails the same way on every attempt. Each failed attempt is counted on the event with its
error text; at `max_attempts` the event ends ``failed`` and the pending sweep stops handing it
over. An operator lists failed events (`dmfrec events --failed`) and, after a fix, sends them
back to ``pending`` (`dmfrec events --retry`), which gives them a fresh count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from storage.db import as_engine, run_transaction
from storage.ingestion import EVENTS, utcnow
from storage.upsert import chunks

ERROR_CHARS = 4000  # error text kept per event


@dataclass(frozen=True)
class FailedEvent:
    event_id: str
    order_id: int
    received_at: datetime
    processed_at: datetime | None
    attempts: int
    error: str | None


def note_failure(engine_or_url: Engine | str | None, event_id: str, error: str,
                 max_attempts: int) -> Literal["pending", "failed", "missing"]:
    """Count one failed application of a pending event; ``failed`` once it reached
    `max_attempts` (at least 1), else it stays ``pending`` for the sweep to hand over again."""

    def work(session: Session) -> Literal["pending", "failed", "missing"]:
        row = session.execute(
            select(EVENTS.c.status, EVENTS.c.attempts).where(EVENTS.c.event_id == event_id)
            .with_for_update()).first()
        if row is None or row.status != "pending":
            return "missing" if row is None else row.status
        attempts = int(row.attempts or 0) + 1
        status = "failed" if attempts >= max(max_attempts, 1) else "pending"
        session.execute(update(EVENTS).where(EVENTS.c.event_id == event_id).values(
            attempts=attempts, error=error[:ERROR_CHARS], status=status,
            processed_at=utcnow() if status == "failed" else None))
        return status

    return run_transaction(engine_or_url, work)


def failed_events(engine_or_url: Engine | str | None, limit: int = 100) -> list[FailedEvent]:
    """Failed events, newest first."""
    q = (select(EVENTS.c.event_id, EVENTS.c.order_id, EVENTS.c.received_at,
                EVENTS.c.processed_at, EVENTS.c.attempts, EVENTS.c.error)
         .where(EVENTS.c.status == "failed")
         .order_by(EVENTS.c.received_at.desc(), EVENTS.c.id.desc()).limit(limit))
    return run_transaction(engine_or_url,
                           lambda s: [FailedEvent(*r) for r in s.execute(q).all()])


def retry_failed(engine_or_url: Engine | str | None,
                 event_ids: Iterable[str] | None = None) -> list[str]:
    """Send failed events back to ``pending`` with a fresh count (all of them when
    `event_ids` is None); returns the ids changed. Ids that are not failed are left alone."""

    def work(session: Session) -> list[str]:
        q = select(EVENTS.c.event_id).where(EVENTS.c.status == "failed")
        if event_ids is None:
            ids = list(session.scalars(q.order_by(EVENTS.c.id)))
        else:
            wanted = sorted(set(event_ids))
            ids = [e for part in chunks(wanted)
                   for e in session.scalars(q.where(EVENTS.c.event_id.in_(part)))]
        for part in chunks(ids):
            session.execute(update(EVENTS).where(EVENTS.c.event_id.in_(part),
                                                 EVENTS.c.status == "failed")
                            .values(status="pending", attempts=0, error=None,
                                    processed_at=None))
        return ids

    return run_transaction(engine_or_url, work)


def status_counts(engine_or_url: Engine | str | None,
                  statuses: tuple[str, ...] = ("pending", "failed")) -> dict[str, int]:
    """How many events are in each of `statuses` (an index range each: cheap to scrape)."""
    q = (select(EVENTS.c.status, func.count()).where(EVENTS.c.status.in_(statuses))
         .group_by(EVENTS.c.status))

    # A read: DEFERRED on SQLite, so a scrape never takes (or waits for) the write lock.
    with as_engine(engine_or_url).connect().execution_options(sqlite_begin="DEFERRED") as conn:
        found = dict(conn.execute(q).all())
    return {s: int(found.get(s, 0)) for s in statuses}
