"""Erasing one customer from the database and Redis at once (no model code: the web service
runs this for the admin endpoint; worker.erasure adds the artifacts).

Redis: the customer's list under every model version (``dmfrec:v:*:user:<key>``, found by
SCAN, so versions kept for rollback are covered), their bought set, and the enqueue markers of
the events erased.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis as redis_lib
from sqlalchemy import Engine

from storage import erasure
from storage.ingestion import Policy
from worker import events, publish

log = logging.getLogger("dmfrec.erasure")


def erase_now(engine: Engine, r: redis_lib.Redis, policy: Policy,
              customer_id: str | None = None, email: str | None = None) -> dict:
    """Erase a customer (by id) or a guest (by email) from the database, then from Redis;
    raises ValueError on a malformed id or email. Returns what was removed (counts)."""
    key = erasure.key_of(customer_id, email, policy)
    done = erasure.erase(engine, key, policy, email=email)
    summary = {"orders": done.orders, "lines": done.lines, "interactions": done.interactions,
               "events": len(done.events), "analytics": done.analytics,
               "redis_keys": erase_redis(r, key, done.events)}
    log.info("customer erased from the database and Redis", extra=summary)
    return summary


def erase_redis(r: redis_lib.Redis, key: str, event_ids: Iterable[str] = ()) -> int:
    """Delete the customer's lists in every version, bought set and event markers."""
    doomed = list(r.scan_iter(match=f"{publish.PREFIX}:v:*:user:{_glob(key)}", count=1000))
    doomed += [publish.bought_key(key), *(events.marker_key(e) for e in event_ids)]
    return int(r.delete(*doomed)) if doomed else 0


def _glob(text: str) -> str:
    """`text` as a literal inside a SCAN pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
