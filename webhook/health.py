"""Liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from webhook import metrics, services

bp = Blueprint("health", __name__)
log = logging.getLogger("dmfrec.webhook")


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers; says nothing about its dependencies."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when the database and Redis both answer; 503 naming the ones that do not."""
    down: dict[str, str] = {}
    try:
        # DEFERRED: on SQLite a readiness probe must not take (or wait for) the write lock.
        with services.engine().connect().execution_options(sqlite_begin="DEFERRED") as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the reason goes to the log
        down["database"] = type(exc).__name__
    try:
        services.redis().ping()
    except Exception as exc:
        down["redis"] = type(exc).__name__
    if down:
        log.warning("not ready", extra={"down": sorted(down)})
        return jsonify(status="unavailable", down=sorted(down), errors=down), 503
    return jsonify(status="ok"), 200


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    body, content_type = metrics.render(services.engine())
    return Response(body, content_type=content_type)
