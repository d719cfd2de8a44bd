"""Product states from the Magento module (signed like order webhooks), applied at once.

`POST /v1/webhooks/magento/products` stores the states (storage.catalog) and updates, in the
same request, what the storefront endpoints read: the hidden-SKU set (a disabled, invisible,
sold-out or deleted SKU leaves every list within this one delivery), each SKU's website ids,
which `?website=<id>` on the list endpoints uses (webhook.lists) to keep only that website's
products, and each SKU's native related/up-sell links, which the A/B arm ``magento`` serves.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import OperationalError

from config import logs
from storage.catalog import SkuState, apply_catalog, parse_catalog
from storage.snapshot import SnapshotError
from webhook import services, signing, webhooks
from webhook.metrics import WEBHOOK_EVENTS
from worker import publish

bp = Blueprint("catalog", __name__, url_prefix="/v1/webhooks")

SOURCE = "magento-products"
SKU_WEBSITES = publish.SKU_WEBSITES
MAX_WEBSITE_ID = 2**31 - 1


@bp.post("/magento/products")
def magento_products() -> tuple[Response, int]:
    """Product states from our Magento module (Standard Webhooks signature)."""
    settings = services.settings()
    body = webhooks._body_within_limit(SOURCE)
    try:
        signing.verify(settings.webhook_secret_list, request.headers, body,
                       tolerance_s=settings.webhook_tolerance_s)
    except signing.SignatureError as exc:
        webhooks._reject(SOURCE, "unauthorized", 401, f"signature rejected: {exc}")
    webhooks._require_json(SOURCE)
    try:
        event = parse_catalog(body)
    except SnapshotError as exc:
        webhooks._invalid(SOURCE, exc)
    logs.bind(event_id=event.event_id, source=SOURCE)
    states = apply_catalog(services.engine(), event)
    publish_states(services.redis(), states)
    WEBHOOK_EVENTS.labels(SOURCE, "accepted").inc()
    hidden = sum(s.hidden for s in states)
    return jsonify(status="applied", event_id=event.event_id, hidden=hidden,
                   shown=len(states) - hidden), 200


def publish_states(r: publish.redis_lib.Redis, states: Sequence[SkuState]) -> None:
    """Hidden set, website ids and native links of `states`, in one round trip."""
    pipe = r.pipeline(transaction=True)
    hidden = [s.sku for s in states if s.hidden]
    shown = [s.sku for s in states if not s.hidden]
    if hidden:
        pipe.sadd(publish.HIDDEN_SKUS, *hidden)
    if shown:
        pipe.srem(publish.HIDDEN_SKUS, *shown)
    websites = {s.sku: ",".join(map(str, s.website_ids))
                for s in states if s.website_ids is not None}
    if websites:
        pipe.hset(SKU_WEBSITES, mapping=websites)
    unknown = [s.sku for s in states if s.website_ids is None]
    if unknown:
        pipe.hdel(SKU_WEBSITES, *unknown)
    publish.set_native_links(pipe, {s.sku: s.links for s in states})
    pipe.delete(publish.ANSWERS)  # ready answers read the hidden set (webhook.lists)
    pipe.execute()


@bp.errorhandler(OperationalError)
@bp.errorhandler(publish.redis_lib.RedisError)
def unavailable(exc: Exception) -> tuple[Response, int]:
    """Database or Redis down: 503, so the module resends (applying a state twice is harmless)."""
    WEBHOOK_EVENTS.labels(SOURCE, "unavailable").inc()
    return jsonify(error=f"catalogue not applied ({type(exc).__name__}); retry later"), 503
