"""Backlog gauges read at scrape time: events by status (database) and broker queue depth.

Collectors, not Gauges: each scrape counts afresh, so the figures are right across every
worker process and restart (a process-local gauge would be neither) and nothing is written to
the multiprocess files. The web service's /metrics and the workers' metrics server both use
them, so the lag is visible before customers see it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import redis as redis_lib
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine

from storage.failures import status_counts

# kombu's Redis transport keeps a queue's messages of priority > 0 in lists named
# "<queue>\x06\x16<priority>" (priority steps 0, 3, 6, 9); Celery's default is the plain name.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
UNACKED = "unacked"  # kombu's hash of delivered, unacknowledged messages (all queues)


def queue_depth(broker: redis_lib.Redis, queue: str) -> int:
    """Messages waiting in `queue` (every priority's list), in one round trip."""
    pipe = broker.pipeline(transaction=False)
    for suffix in _PRIORITY_SUFFIXES:
        pipe.llen(queue + suffix)
    return sum(pipe.execute())


class EventCounts:
    """``dmfrec_events{status}``: pending (received, not applied yet) and failed events."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        events = GaugeMetricFamily(
            "dmfrec_events", "Received events by status (pending: not applied yet; failed: "
            "refused by the database or invalid, see `dmfrec events --failed`)",
            labels=["status"])
        up = GaugeMetricFamily("dmfrec_events_count_up", "1 when the event counts were read")
        try:
            counts = status_counts(self.engine)
        except Exception:  # the database is down: say so; the rest of /metrics still answers
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for status, count in counts.items():
            events.add_metric([status], count)
        yield events
        yield up


class QueueDepth:
    """``dmfrec_queue_depth{queue}``: messages waiting in the broker (Redis) per queue, and
    ``dmfrec_queue_unacked``: delivered to a worker, not yet acknowledged (running or
    prefetched; acks are late, so a task counts here until it ends)."""

    def __init__(self, broker: redis_lib.Redis, queues: Sequence[str]) -> None:
        self.broker = broker
        self.queues = list(queues)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("dmfrec_queue_depth",
                                  "Messages waiting in the broker, by queue", labels=["queue"])
        unacked = GaugeMetricFamily("dmfrec_queue_unacked",
                                    "Messages delivered to workers and not yet acknowledged")
        up = GaugeMetricFamily("dmfrec_queue_depth_up", "1 when the broker answered")
        try:
            pipe = self.broker.pipeline(transaction=False)
            for queue in self.queues:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            pipe.hlen(UNACKED)
            lengths = pipe.execute()
        except redis_lib.RedisError:
            up.add_metric([], 0)
            yield up
            return
        n = len(_PRIORITY_SUFFIXES)
        for k, queue in enumerate(self.queues):
            depth.add_metric([queue], sum(lengths[k * n:(k + 1) * n]))
        unacked.add_metric([], lengths[-1])
        up.add_metric([], 1)
        yield depth
        yield unacked
        yield up


def backlog_registry(engine: Engine, broker: redis_lib.Redis | None = None,
                     queues: Sequence[str] = ()) -> CollectorRegistry:
    """A registry of the event counts and (with `broker`) the depth of `queues`."""
    registry = CollectorRegistry()
    registry.register(EventCounts(engine))
    if broker is not None:
        registry.register(QueueDepth(broker, queues))
    return registry
