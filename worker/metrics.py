"""Prometheus metrics of the Celery workers: how long applying and folding in take, and the lag.

The histograms are observed in the pool processes (worker.live). With
DMFREC_WORKER_METRICS_PORT set, the worker's main process serves, on that port (address
DMFREC_WORKER_METRICS_ADDR), every pool process's samples aggregated through
PROMETHEUS_MULTIPROC_DIR (worker.celery_app sets a default before prometheus_client loads) and
the backlog read at scrape time (worker.backlog: queue depth, unacknowledged messages, pending
and failed events), like gunicorn's /metrics for the web service.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import redis as redis_lib
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)

from config.settings import Settings
from storage.db import make_engine
from worker.backlog import EventCounts, QueueDepth

log = logging.getLogger("dmfrec.worker")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0, 300.0)

APPLY_SECONDS = Histogram(
    "dmfrec_worker_apply_seconds",
    "Time to apply one batch of events to the database (storage.ingestion, one transaction)",
    buckets=_BUCKETS)
BATCH_SIZE = Histogram(
    "dmfrec_worker_batch_events",
    "Events applied per transaction (DMFREC_INGEST_BATCH at most; 1: an event alone)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000))
FOLD_IN_SECONDS = Histogram(
    "dmfrec_worker_fold_in_seconds",
    "Time to refresh the customers of one batch: bought sets, fold-in and list publish",
    buckets=_BUCKETS)
CUSTOMERS_REFRESHED = Counter(
    "dmfrec_worker_customer_refreshes_total",
    "Customers whose bought set (and list, with an active model) the live loop rewrote; "
    "once per batch each, however many of the batch's events were theirs")
EVENT_LAG_SECONDS = Histogram(
    "dmfrec_worker_event_lag_seconds",
    "From the webhook's receipt of an event to its customers' lists rewritten (applied events)",
    buckets=_BUCKETS)
EVENTS_PROCESSED = Counter(
    "dmfrec_worker_events_total", "Events the workers processed, by outcome "
    "(applied, duplicate, stale, failed, missing, ...)", ["outcome"])


def multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def clear_stale() -> None:
    """Remove the samples of other processes (a previous run's) from the metrics folder; this
    process's own files stay (a solo pool observes in this very process)."""
    folder = multiprocess_dir()
    if folder is None:
        return
    own = f"_{os.getpid()}.db"
    for stale in folder.glob("*.db"):
        if not stale.name.endswith(own):
            stale.unlink(missing_ok=True)


def serve(settings: Settings, queues: list[str]) -> None:
    """Start the metrics server in this (the worker's main) process."""
    registry = CollectorRegistry()
    folder = multiprocess_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        multiprocess.MultiProcessCollector(registry, path=str(folder))
    else:  # a solo or threads pool: this process's own samples
        registry.register(_Own())
    registry.register(EventCounts(make_engine(settings.database_url)))
    broker = redis_lib.Redis.from_url(settings.broker_url, socket_connect_timeout=1,
                                      socket_timeout=2)
    registry.register(QueueDepth(broker, queues))
    start_http_server(settings.worker_metrics_port, settings.worker_metrics_addr,
                      registry=registry)
    log.info("worker metrics served", extra={"port": settings.worker_metrics_port})


def process_exited(pid: int) -> None:
    """A pool process ended: prometheus_client drops its live gauges (counters stay summed)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)


class _Own:
    """The process registry's samples, without a second registration of its collectors."""

    def collect(self):
        return REGISTRY.collect()
