"""Celery tasks: small arguments (ids), idempotent bodies in worker.live, retries on outages.

A transient failure (database or Redis unreachable) is retried with exponential backoff and
jitter; anything else is a bug or bad data, logged with the event id and not retried (an event
the database refuses is counted on the event and ends `failed` after DMFREC_EVENT_MAX_ATTEMPTS
hand-overs by the pending sweep; see storage.failures).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions
import sqlalchemy.exc
from celery import Task

from config import logs
from storage.db import is_outage
from worker import live, triggers
from worker.celery_app import app
from worker.runtime import runtime

logs.configure()



class DatabaseOutage(Exception):
    """A database error that is an outage (`storage.db.is_outage`): worth retrying later."""


TRANSIENT = (
    DatabaseOutage,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


@contextmanager
def outages_retried() -> Iterator[None]:
    """Re-raise database outages as DatabaseOutage (retried); other database errors as they
    are (not retried: a CHECK failure or bad data fails the same way every time)."""
    try:
        yield
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        if is_outage(exc):
            raise DatabaseOutage(str(exc)) from exc
        raise
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 12,
}


# An ingest task whose event another task's batch holds looks again this much later (by then
# that batch has normally committed and refreshed, and the look is one Redis EXISTS).
HELD_RECHECK_S = 2.0


@app.task(name="worker.tasks.ingest_event", bind=True, **RETRY)
def ingest_event(self: Task, event_id: str, recheck: bool = False) -> dict:
    """Ingest one recorded webhook event (with a batch of other pending ones) and refresh the
    customers they touched. An event that another task's batch holds is left to that task and
    looked at again HELD_RECHECK_S later (`recheck`: that later look, which waits if need be)."""
    logs.reset(event_id=event_id, task_id=self.request.id, retries=self.request.retries)
    rt = runtime()
    with outages_retried():
        summary = live.process_event(rt, event_id, defer=None if recheck else _recheck_later,
                                     resume=_drain_later)
    _count_applied(rt, summary["applied"])  # its own event, its batch's and the drained
    return summary


@app.task(name="worker.tasks.drain_ingest", bind=True, **RETRY)
def drain_ingest(self: Task) -> int:
    """Go on with a drain that an ingest task handed over (worker.live.drain)."""
    logs.reset(task_id=self.request.id, retries=self.request.retries)
    rt = runtime()
    with outages_retried():
        applied = live.drain_pending(rt, resume=_drain_later)
    _count_applied(rt, applied)
    return applied


def _count_applied(rt, applied: int) -> None:
    if applied:
        after = rt.settings.fine_tune_after_events
        if triggers.count_event(rt.redis, applied) >= after > 0:
            _enqueue_fine_tune(rt)


def _sent(task: Task, **options) -> bool:
    """Send `task` without the broker's own retries; False if the broker refused (the caller
    then does the work itself, the safe way under broker trouble)."""
    try:
        task.apply_async(retry=False, **options)
    except Exception:
        return False
    return True


def _drain_later() -> bool:
    """Hand the rest of a drain to a new task (False: the caller drains on)."""
    return _sent(drain_ingest)


def _recheck_later(event_id: str) -> bool:
    """Send this event's task again, to run HELD_RECHECK_S from now (False: the caller waits
    for the holding batch itself)."""
    return _sent(ingest_event, args=[event_id], kwargs={"recheck": True},
                 countdown=HELD_RECHECK_S)


def _enqueue_fine_tune(rt) -> bool:
    """Send one fine-tune (if none is queued or running already)."""
    ttl = max(rt.settings.fine_tune_after_minutes * 60, 3600)
    if not triggers.claim(rt.redis, ttl):
        return False
    fine_tune.apply_async(kwargs={"if_needed": True})
    return True


@app.task(name="worker.tasks.maybe_fine_tune", bind=True, **RETRY)
def maybe_fine_tune(self: Task) -> bool:
    """Periodic: fine-tune when enough events came, or the last run is old enough."""
    logs.reset(task_id=self.request.id)
    rt = runtime()
    s = rt.settings
    if triggers.due(rt.redis, after_events=s.fine_tune_after_events,
                    after_minutes=s.fine_tune_after_minutes):
        return _enqueue_fine_tune(rt)
    return False


@app.task(name="worker.tasks.enqueue_pending", bind=True, **RETRY)
def enqueue_pending(self: Task) -> int:
    """Periodic: re-enqueue events recorded while the broker was down."""
    logs.reset(task_id=self.request.id)
    with outages_retried():
        return live.enqueue_pending(runtime(), app)


@app.task(name="worker.tasks.drain_spool", bind=True, **RETRY)
def drain_spool(self: Task) -> int:
    """Periodic: record the Adobe events the web service spooled while the database was down."""
    from worker import spool

    logs.reset(task_id=self.request.id)
    rt = runtime()
    with outages_retried():
        return spool.drain_redis(rt.engine, rt.redis, app,
                                 resend_after_s=rt.settings.resend_after_s)


@app.task(name="worker.tasks.refresh_popular", bind=True, **RETRY)
def refresh_popular(self: Task) -> bool:
    """Periodic: recompute the popular list (cancels and refunds move it too)."""
    logs.reset(task_id=self.request.id)
    with outages_retried():
        return live.refresh_popular(runtime(), force=True)


@app.task(name="worker.tasks.refresh_hidden_skus", bind=True, **RETRY)
def refresh_hidden_skus(self: Task) -> int:
    """Periodic: rebuild the set of SKUs never shown (disabled, out of stock)."""
    logs.reset(task_id=self.request.id)
    with outages_retried():
        return live.refresh_hidden_skus(runtime())


@app.task(name="worker.tasks.restore_active_version", bind=True, **RETRY)
def restore_active_version(self: Task) -> bool:
    """Periodic: when Redis lost its state, queue one restore from the database."""
    from worker import recovery

    logs.reset(task_id=self.request.id)
    with outages_retried():
        lost = recovery.redis_lost(runtime())
    if lost:
        restore_redis.apply_async()
    return lost


@app.task(name="worker.tasks.restore_redis", bind=True, **RETRY)
def restore_redis(self: Task) -> dict:
    """Rebuild bought sets and the active version's lists (with fold-ins) from the database."""
    from worker import recovery

    logs.reset(task_id=self.request.id)
    with outages_retried():
        return recovery.restore(runtime())


@app.task(name="worker.tasks.scrub_artifacts", bind=True, **RETRY)
def scrub_artifacts(self: Task) -> int:
    """After an erasure (and daily): blank erased customers in every retained artifact."""
    from worker import erasure

    logs.reset(task_id=self.request.id)
    with outages_retried():
        return erasure.scrub_artifacts(runtime())


@app.task(name="worker.tasks.retention", bind=True, **RETRY)
def retention(self: Task) -> dict:
    """Daily: purge processed events past their retention, prune old model artifacts."""
    from worker import retention as lifecycle

    logs.reset(task_id=self.request.id)
    with outages_retried():
        return lifecycle.run(runtime())


@app.task(name="worker.tasks.publish_version", bind=True, **RETRY)
def publish_version(self: Task, version: str) -> dict:
    """Publish every list of a trained model version, then switch readers to it atomically."""
    from worker.versions import publish_model_version

    logs.reset(task_id=self.request.id, version=version)
    with outages_retried():
        return publish_model_version(runtime(), version)


@app.task(name="worker.tasks.nightly_retrain", bind=True, **RETRY)
def nightly_retrain(self: Task) -> dict:
    """Train from scratch on the window's purchases, then publish the new version."""
    from worker import training

    logs.reset(task_id=self.request.id)
    rt = runtime()
    with outages_retried():
        # A run killed with the lock held (its task redelivered here) frees it within one TTL.
        return training.nightly_retrain(rt, wait_s=2 * max(rt.settings.train_lock_ttl_s, 1))


@app.task(name="worker.tasks.fine_tune", bind=True, **RETRY)
def fine_tune(self: Task, if_needed: bool = False) -> dict:
    """A few epochs more for the active model on current data (towers grow for newcomers)."""
    from worker import training

    logs.reset(task_id=self.request.id)
    with outages_retried():
        return training.fine_tune(runtime(), if_needed=if_needed)


# issue 18: storefront analytics ----------------------------------------------------------
@app.task(name="worker.tasks.analytics_roll_up", bind=True, **RETRY)
def analytics_roll_up(self: Task) -> dict:
    """Daily: raw impressions/clicks past their retention kept as per-day counts."""
    from worker import attribution

    logs.reset(task_id=self.request.id)
    with outages_retried():
        return attribution.roll_up(runtime())
