"""When to fine-tune: after ``DMFREC_FINE_TUNE_AFTER_EVENTS`` applied events, or
``DMFREC_FINE_TUNE_AFTER_MINUTES`` after the last training run if any event came since.

State lives in Redis so every ingest worker and beat share it::

    dmfrec:train:events   counter  events applied since the last training run began
    dmfrec:train:last_at  string   Unix time the last training run finished
    dmfrec:train:queued   string   a fine-tune is queued or running (TTL), so triggers that
                                   fire again meanwhile enqueue nothing
"""

from __future__ import annotations

import time

import redis as redis_lib

from worker.publish import PREFIX

EVENTS = f"{PREFIX}:train:events"
LAST_AT = f"{PREFIX}:train:last_at"
QUEUED = f"{PREFIX}:train:queued"


def count_event(r: redis_lib.Redis, n: int = 1) -> int:
    """`n` more applied events; returns how many since the last training run."""
    return int(r.incrby(EVENTS, n))


def events_since_training(r: redis_lib.Redis) -> int:
    return int(r.get(EVENTS) or 0)


def training_done(r: redis_lib.Redis, seen: int) -> None:
    """Forget the `seen` events the run trained on (those applied meanwhile still count)."""
    pipe = r.pipeline()
    pipe.decrby(EVENTS, seen)
    pipe.set(LAST_AT, f"{time.time():.3f}")
    pipe.delete(QUEUED)
    pipe.execute()


def due(r: redis_lib.Redis, *, after_events: int, after_minutes: int,
        now: float | None = None) -> bool:
    """Whether a fine-tune should run now (by count or by age)."""
    events = events_since_training(r)
    if events <= 0:
        return False
    if after_events > 0 and events >= after_events:
        return True
    if after_minutes <= 0:
        return False
    last = r.get(LAST_AT)
    if last is None:  # never trained here: count from the first event
        r.set(LAST_AT, f"{time.time():.3f}", nx=True)
        return False
    return (now or time.time()) - float(last) >= after_minutes * 60


def claim(r: redis_lib.Redis, ttl_s: int) -> bool:
    """Take the right to enqueue one fine-tune; False while one is queued or running."""
    return bool(r.set(QUEUED, "1", nx=True, ex=max(ttl_s, 1)))
