"""Webhook receivers: verify, validate, record, answer, then enqueue the event id.

Checks run cheapest and least revealing first, and a rejected request writes nothing:
413 too large (before the body is read), 401 bad or stale signature, 415 not JSON,
400 malformed snapshot (naming the field). An accepted event is committed to the
received-events table (one autocommitted INSERT; the unique event id refuses a repeat, which is
answered 200 with nothing changed) and answered 202. Only then is the event id sent to the
``ingest`` queue, with no marker: if the broker is down the event stays pending and beat's
``enqueue_pending`` sends it later (worker.live: it leaves alone the events a non-empty ingest
queue will reach).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy.exc import OperationalError

from config import logs
from storage.ingestion import receive
from storage.snapshot import SnapshotError, SnapshotEvent, parse_event
from webhook import adobe, services, signing
from webhook.metrics import COALESCED, ENQUEUE_FAILURES, WEBHOOK_EVENTS
from worker import events, spool

bp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")
log = logging.getLogger("dmfrec.webhook")

MAGENTO, ADOBE = "magento", "adobe-commerce"


def _reject(source: str, outcome: str, status: int, message: str, **extra) -> None:
    WEBHOOK_EVENTS.labels(source, outcome).inc()
    log.info("webhook rejected", extra={"source": source, "outcome": outcome, "status": status})
    response = jsonify(error=message, **extra)
    response.status_code = status
    abort(response)


def _body_within_limit(source: str) -> bytes:
    limit = services.settings().max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        _reject(source, "too_large", 413, f"body larger than {limit} bytes")
    body = request.get_data(cache=True)  # Werkzeug enforces the limit on chunked bodies too
    if len(body) > limit:
        _reject(source, "too_large", 413, f"body larger than {limit} bytes")
    return body


def _require_json(source: str) -> None:
    if request.mimetype != "application/json":
        _reject(source, "unsupported_media_type", 415, "Content-Type must be application/json")


def _invalid(source: str, exc: SnapshotError) -> None:
    fields = [{"field": loc or "(body)", "message": msg} for loc, msg in exc.errors]
    names = ", ".join(f["field"] for f in fields)
    _reject(source, "invalid", 400, f"invalid order snapshot: {names}", fields=fields)


def _record(source: str, raw: bytes | SnapshotEvent) -> tuple[SnapshotEvent, bool]:
    """Validate and record the event (storage's fast path); enqueue it if new."""
    event, created = receive(services.ingest_engine(), raw)
    logs.bind(event_id=event.event_id, source=source, order_id=event.order.entity_id)
    WEBHOOK_EVENTS.labels(source, "accepted" if created else "duplicate").inc()
    if not created:
        log.info("duplicate event; already recorded")
        return event, False
    log.info("event recorded")
    settings = services.settings()
    sent = events.send_new(services.celery(), services.redis(), event.event_id)
    if sent == "failed":
        ENQUEUE_FAILURES.inc()
    elif sent == "coalesced":
        COALESCED.inc()
    if spool.has_files(settings.spool_dir):  # the database is back: record what waited here
        try:
            spool.drain_folder(settings.spool_dir, services.engine(), services.celery(),
                               services.redis(), resend_after_s=settings.resend_after_s)
        except Exception:  # opportunistic: this request's event is recorded whatever happens
            log.exception("could not drain the spool folder")
    return event, True


def _keep_for_later(event: SnapshotEvent, exc: Exception) -> None:
    """Database down: keep the Adobe event in the spool (Redis, else a local file)."""
    try:
        where = spool.keep(services.redis(), services.settings().spool_dir, event)
    except OSError:
        WEBHOOK_EVENTS.labels(ADOBE, "lost").inc()
        log.critical("database, Redis and the spool folder all unavailable; event lost",
                     extra={"event_id": event.event_id}, exc_info=True)
        return
    WEBHOOK_EVENTS.labels(ADOBE, "spooled").inc()
    log.warning("database unavailable; event spooled", extra={
        "event_id": event.event_id, "spool": where, "error": type(exc).__name__})


@bp.post("/magento/orders")
def magento_order() -> tuple[Response, int]:
    """A signed order snapshot from our Magento module (Standard Webhooks signature)."""
    settings = services.settings()
    body = _body_within_limit(MAGENTO)
    try:
        webhook_id = signing.verify(settings.webhook_secret_list, request.headers, body,
                                    tolerance_s=settings.webhook_tolerance_s)
    except signing.SignatureError as exc:
        _reject(MAGENTO, "unauthorized", 401, f"signature rejected: {exc}")
    logs.bind(webhook_id=webhook_id)
    _require_json(MAGENTO)
    try:
        event, created = _record(MAGENTO, body)
    except SnapshotError as exc:
        _invalid(MAGENTO, exc)
    status = "accepted" if created else "duplicate"
    return jsonify(status=status, event_id=event.event_id), 202 if created else 200


@bp.post("/adobe-commerce/order-placed")
def adobe_order_placed() -> tuple[Response, int]:
    """Adobe Commerce Webhooks (synchronous, blocks checkout): answer ``{"op": "success"}`` fast.

    Verified with the RSA public key shown in the Commerce admin
    (``x-adobe-commerce-webhook-signature``); the order is converted to our snapshot and
    recorded, the work happens in Celery. A payload we cannot use is logged and still answered
    success: recommendations must never block a checkout. With the database down the event is
    spooled (worker.spool) and recorded once it is back.
    """
    settings = services.settings()
    body = _body_within_limit(ADOBE)
    if not settings.adobe_public_key:
        _reject(ADOBE, "not_configured", 503, "Adobe Commerce webhooks are not configured "
                "(DMFREC_ADOBE_PUBLIC_KEY)")
    if not adobe.verify(settings.adobe_public_key, request.headers, body):
        _reject(ADOBE, "unauthorized", 401, "signature rejected")
    _require_json(ADOBE)
    try:
        data = json.loads(body)
        event = parse_event(adobe.to_event(data if isinstance(data, dict) else {}, body))
    except (ValueError, SnapshotError) as exc:  # JSONDecodeError is a ValueError
        WEBHOOK_EVENTS.labels(ADOBE, "invalid").inc()
        log.warning("unusable Adobe Commerce payload; answered success",
                    extra={"error": str(exc)[:500]})
        return jsonify(op="success"), 200
    try:
        _record(ADOBE, event)
    except spool.DATABASE_DOWN as exc:
        _keep_for_later(event, exc)
    return jsonify(op="success"), 200


@bp.errorhandler(OperationalError)
def database_unavailable(exc: OperationalError) -> tuple[Response, int]:
    """Database down: 503, nothing recorded, so the sender retries later."""
    log.error("database unavailable; event not recorded", extra={"error": type(exc).__name__})
    WEBHOOK_EVENTS.labels(request.path.rsplit("/", 2)[-2], "database_unavailable").inc()
    return jsonify(error="database unavailable; retry later"), 503
