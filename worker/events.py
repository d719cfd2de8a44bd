"""Handing recorded events to the broker (web service and beat alike).

The web service records an event with `storage.ingestion.receive` *before* this is called, so
an event is never lost: if the broker is down the event stays ``pending`` and the periodic
`worker.tasks.enqueue_pending` sends it again. The web service sends each event once, unmarked
(a Redis write per event saved); the sweep marks its own sends, ``dmfrec:enqueued:<event_id>``
(TTL ``DMFREC_RESEND_AFTER_S``), so it does not send the same event every minute, and leaves
unmarked events alone while the ingest queue holds messages (worker.live.enqueue_pending).
A second marker ``dmfrec:refreshed:<event_id>`` says that a batch applied the event and
refreshed its customers (worker.live), so the event's own task is a no-op.

Fewer messages than events (issue 17: under a sale the workers spent as much CPU on one
Celery message per event as on the events themselves). The web service sends a new event's
task only if no sent ingest task has started yet (`send_new`: the flag ``dmfrec:ingest:wake``,
set with the send). Every ingest task clears the flag when it starts (`woken`) and then
drains: it claims batches until a claim finds nothing pending (worker.live.drain). An event
whose send was skipped was recorded before the flag it found was cleared, so the task that
cleared it, draining after that, claims it (or finds it held by a batch that applies it).
The flag expires after WAKE_TTL_MS, and beat's sweep re-sends anything still pending, so a
lost message delays events, never loses them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis as redis_lib

from worker.publish import PREFIX

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("dmfrec.events")

INGEST_TASK = "worker.tasks.ingest_event"
# A batch's events stay marked refreshed this long: their own tasks, normally queued already,
# find the mark and do nothing; one that comes later refreshes again (idempotent, only slower).
REFRESHED_TTL_S = 6 * 3600


def marker_key(event_id: str) -> str:
    return f"{PREFIX}:enqueued:{event_id}"


def enqueue(celery: Celery, event_id: str, r: redis_lib.Redis | None = None,
            resend_after_s: int = 900) -> bool:
    """Send the event id to the ingest queue; False (and a log line) if the broker is down."""
    try:
        celery.send_task(INGEST_TASK, args=[event_id], retry=False)
    except Exception:  # broker down or refusing: the event stays pending for enqueue_pending
        log.warning("broker unavailable; event stays pending", extra={"event_id": event_id},
                    exc_info=True)
        return False
    if r is not None:
        try:
            r.set(marker_key(event_id), "1", ex=resend_after_s)
        except redis_lib.RedisError:  # only an optimisation: the worst case is a resend
            log.warning("could not mark the event as enqueued", extra={"event_id": event_id})
    return True


WAKE_KEY = f"{PREFIX}:ingest:wake"
WAKE_TTL_MS = 30_000  # a sent task that never starts (message lost) stops the skipping after this


def send_new(celery: Celery, r: redis_lib.Redis, event_id: str) -> str:
    """Hand a newly recorded event to the ingest queue unless a sent task has not started yet:
    "sent", "coalesced" (that task's drain will claim it) or "failed" (broker down; beat's
    sweep sends it later). Redis trouble means sending, as before this flag existed."""
    try:
        if not r.set(WAKE_KEY, "1", nx=True, px=WAKE_TTL_MS):
            return "coalesced"
    except redis_lib.RedisError:
        log.warning("could not read the ingest wake flag; sending", exc_info=True)
    if enqueue(celery, event_id):
        return "sent"
    with contextlib.suppress(redis_lib.RedisError):  # else it expires
        r.delete(WAKE_KEY)  # nothing was sent: later events must not wait for it
    return "failed"


def woken(r: redis_lib.Redis) -> None:
    """An ingest task starts: events recorded from now on are sent again, and the caller
    drains what is pending (the events whose sends were skipped among it)."""
    r.delete(WAKE_KEY)


def refreshed_key(event_id: str) -> str:
    return f"{PREFIX}:refreshed:{event_id}"


def mark_refreshed(r: redis_lib.Redis, event_ids: Sequence[str]) -> None:
    """Events applied and their customers refreshed: their own tasks have nothing left to do."""
    pipe = r.pipeline(transaction=False)
    for event_id in event_ids:
        pipe.set(refreshed_key(event_id), "1", ex=REFRESHED_TTL_S)
    pipe.execute()


def was_refreshed(r: redis_lib.Redis, event_id: str) -> bool:
    return bool(r.exists(refreshed_key(event_id)))


def unmarked(r: redis_lib.Redis, event_ids: Sequence[str]) -> list[str]:
    """The ids among `event_ids` with no live enqueue marker."""
    if not event_ids:
        return []
    marks = r.mget([marker_key(e) for e in event_ids])
    return [e for e, m in zip(event_ids, marks, strict=True) if m is None]
