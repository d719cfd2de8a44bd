"""Events kept for later when the database is down (the Adobe Commerce route must still answer).

`keep` stores the validated event in Redis (hash ``dmfrec:spool``: event id -> body), or, when
Redis is down too, as one file in ``DMFREC_SPOOL_DIR`` on the web host (written whole, then
renamed: a crash never leaves half a file). Draining records each one with
`storage.ingestion.receive`, exactly as the route would have, enqueues it, and only then
removes it: a crash in between records it again later, which `receive` recognises by event
id, so nothing is lost or counted twice, even with several drainers at once. Beat's
``drain_spool`` task drains Redis; each web process drains its own folder after a request
that reached the database.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import redis as redis_lib
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from storage.ingestion import receive
from storage.snapshot import SnapshotError, SnapshotEvent, event_body
from worker import events
from worker.publish import PREFIX

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("dmfrec.spool")

SPOOL_KEY = f"{PREFIX}:spool"
FAILED_KEY = f"{PREFIX}:spool:failed"  # event id -> why it could not be recorded (bad data)
DATABASE_DOWN = (OperationalError, InterfaceError)
_draining = threading.Lock()  # one folder drain per process at a time


def keep(r: redis_lib.Redis, folder: Path, event: SnapshotEvent) -> str:
    """Keep `event` for later: ``"redis"`` or ``"file"``, where it went. Raises OSError only
    when Redis is down and the folder cannot be written either."""
    body = event_body(event)
    try:
        r.hset(SPOOL_KEY, event.event_id, body)
        return "redis"
    except redis_lib.RedisError:
        log.warning("Redis down too; event spooled to a file", extra={"event_id": event.event_id})
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{uuid.uuid4().hex}.partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    # The event id as the name: a repeat delivery replaces the same file.
    os.replace(partial, folder / f"{uuid.uuid5(uuid.NAMESPACE_URL, event.event_id).hex}.json")
    return "file"


def _record(engine: Engine, celery: Celery, r: redis_lib.Redis | None, body: str,
            resend_after_s: int) -> bool:
    """Record one spooled body (True: done, remove it); False: bad data, set aside."""
    try:
        event, created = receive(engine, body)
    except SnapshotError:
        return False
    if created:
        events.enqueue(celery, event.event_id, r, resend_after_s)
    return True


def drain_redis(engine: Engine, r: redis_lib.Redis, celery: Celery, *,
                resend_after_s: int = 900, batch: int = 500) -> int:
    """Record up to `batch` events from the Redis spool; how many. Database errors propagate
    (the task retries) and leave the rest where they are."""
    done = 0
    for event_id, body in r.hscan_iter(SPOOL_KEY, count=batch):
        if not _record(engine, celery, r, body, resend_after_s):
            r.hset(FAILED_KEY, event_id, body)
            log.error("spooled event does not validate; set aside in " + FAILED_KEY,
                      extra={"event_id": event_id})
        r.hdel(SPOOL_KEY, event_id)
        done += 1
        if done >= batch:
            break
    if done:
        log.info("drained the Redis spool", extra={"events": done})
    return done


def drain_folder(folder: Path, engine: Engine, celery: Celery, r: redis_lib.Redis | None, *,
                 resend_after_s: int = 900, batch: int = 50) -> int:
    """Record up to `batch` spooled files (this web host's); how many. Stops at the first
    database error, leaving the files. Never raises for a database or Redis outage."""
    if not _draining.acquire(blocking=False):
        return 0
    done = 0
    try:
        for path in sorted(folder.glob("*.json"))[:batch]:
            try:
                body = path.read_text(encoding="utf-8")
            except FileNotFoundError:  # another process drained it
                continue
            try:
                ok = _record(engine, celery, r, body, resend_after_s)
            except DATABASE_DOWN:
                break
            if not ok:
                path.rename(path.with_suffix(".failed"))
                log.error("spooled file does not validate; renamed .failed",
                          extra={"file": str(path)})
                continue
            path.unlink(missing_ok=True)
            done += 1
    finally:
        _draining.release()
    if done:
        log.info("drained the spool folder", extra={"events": done, "folder": str(folder)})
    return done


def has_files(folder: Path) -> bool:
    """Whether `folder` holds spooled events (cheap: called after every recorded event)."""
    try:
        with os.scandir(folder) as entries:
            return any(e.name.endswith(".json") for e in entries)
    except OSError:  # no folder: nothing was ever spooled here
        return False
