"""Prometheus metrics of the web service, correct under several gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn.conf.py sets it before any worker starts),
each worker writes its samples to files there and /metrics aggregates every worker's files;
gunicorn's ``child_exit`` hook marks dead workers. Without it, the process's own registry is
served (tests, the Flask development server).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Engine

from worker.backlog import backlog_registry

WEBHOOK_EVENTS = Counter(
    "dmfrec_webhook_events_total",
    "Webhook deliveries by source and outcome (accepted, duplicate, unauthorized, invalid, ...)",
    ["source", "outcome"],
)
ENQUEUE_FAILURES = Counter(
    "dmfrec_enqueue_failures_total",
    "Recorded events that could not be handed to the broker (re-enqueued later by beat)",
)
COALESCED = Counter(
    "dmfrec_enqueue_coalesced_total",
    "Recorded events sent no message of their own: an ingest task sent before had not started",
)
STOREFRONT_LISTS = Counter(
    "dmfrec_storefront_lists_total",
    "Lists served to the storefront, by kind and whether the popular fallback was used",
    ["kind", "fallback"],
)
REQUEST_SECONDS = Histogram(
    "dmfrec_http_request_seconds",
    "HTTP request latency by endpoint, method and status",
    ["endpoint", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

_REQUEST_CHILDREN: dict[tuple[str, str, str], Histogram] = {}


def observe_request(endpoint: str, method: str, status: str, seconds: float) -> None:
    """REQUEST_SECONDS for one request; each label set's child looked up once per process
    (endpoints and statuses are few), so a request pays a dict lookup, not labels()."""
    key = (endpoint, method, status)
    child = _REQUEST_CHILDREN.get(key)
    if child is None:
        child = _REQUEST_CHILDREN[key] = REQUEST_SECONDS.labels(*key)
    child.observe(seconds)


def render(engine: Engine | None = None) -> tuple[bytes, str]:
    """The exposition text (aggregated over workers in multiprocess mode) and its type; with
    `engine`, the event backlog gauges read from the database at scrape time too."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if engine is not None:
        body += generate_latest(backlog_registry(engine))
    return body, CONTENT_TYPE_LATEST
