"""Storefront lists: a customer's recommendations, similar SKUs, popular SKUs.

These read Redis only (never the database or a model), so they stay fast and keep working
while training runs or the database is busy. Lists are over-fetched when published and filtered
here: hidden SKUs (disabled, out of stock), the caller's ``exclude`` and, for a customer, what
the customer already bought. A customer without a list gets the popular one, marked
``"fallback": true``. A customer's list needs a token minted for that customer (webhook.tokens).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from webhook import catalog, experiments, services, tokens
from webhook.metrics import STOREFRONT_LISTS
from webhook.query import CustomerListQuery, ListQuery, Q, parse
from worker import publish

bp = Blueprint("storefront", __name__, url_prefix="/v1")


def _query(model: type[Q]) -> tuple[Q, int]:
    """The route's validated query parameters (400 naming any bad one), and the list size."""
    settings = services.settings()
    query = parse(model, max_limit=settings.publish_n)
    return query, query.limit or min(settings.top_n, settings.publish_n)


def _authorize(customer_id: str) -> None:
    """401 without a genuine unexpired token, 403 when it was minted for someone else."""
    settings = services.settings()
    if not settings.token_secret:
        abort(503, "storefront tokens are not configured (DMFREC_TOKEN_SECRET)")
    header = request.headers.get("Authorization", "")
    # Before the other parameters are validated: an anonymous caller learns nothing more.
    token = header[7:].strip() if header[:7].lower() == "bearer " else request.args.get("token")
    if not token:
        _unauthorized("a storefront token is required")
    try:
        claims = tokens.verify(settings.token_secret, token, max_ttl_s=settings.token_max_ttl_s)
    except tokens.TokenError as exc:
        _unauthorized(str(exc))
    if claims.customer_id != customer_id:
        abort(403, "the token was minted for another customer")


def _unauthorized(message: str) -> None:
    response = jsonify(error=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="dmfrec"'
    abort(response)


def _items(pairs: list[tuple[str, float]]) -> list[dict]:
    return [{"sku": sku, "score": score} for sku, score in pairs]


def _answer(body: dict, kind: str, cache: str) -> Response:
    STOREFRONT_LISTS.labels(kind, str(body["fallback"]).lower()).inc()
    response = jsonify(body)
    response.headers["Cache-Control"] = cache
    return response


@bp.get("/customers/<customer_id>/recommendations")
def customer_recommendations(customer_id: str) -> Response:
    _authorize(customer_id)
    query, limit = _query(CustomerListQuery)
    exclude = list(query.exclude)
    r = services.redis()
    buyer = customer_id if services.settings().exclude_purchased else None
    version, pairs = experiments.user_list(r, customer_id)  # issue 18: the customer's A/B arm
    fallback = pairs is None
    if fallback:
        pairs = publish.read_popular(r)
    exclude += catalog.website_excluded(r, (s for s, _ in pairs), query.website)
    items = publish.filter_pairs(r, pairs, limit=limit, exclude=exclude, customer_id=buyer)
    body = {"customer_id": customer_id, "version": None if fallback else version,
            "fallback": fallback, "items": _items(items)}
    body = experiments.tag(body, "customer", customer_id)  # issue 18: recommendation id
    return _answer(body, "customer", "private, max-age=60")


@bp.get("/items/<sku>/similar")
def similar_items(sku: str) -> Response:
    query, limit = _query(ListQuery)
    exclude = [*query.exclude, sku]
    r = services.redis()
    version, pairs = publish.read_similar(r, sku)
    fallback = pairs is None
    if fallback:
        pairs = publish.read_popular(r)
    exclude += catalog.website_excluded(r, (s for s, _ in pairs), query.website)
    items = publish.filter_pairs(r, pairs, limit=limit, exclude=exclude)
    body = {"sku": sku, "version": None if fallback else version, "fallback": fallback,
            "items": _items(items)}
    body = experiments.tag(body, "similar")  # issue 18: recommendation id
    return _answer(body, "similar", "public, max-age=300")


@bp.get("/popular")
def popular() -> Response:
    query, limit = _query(ListQuery)
    exclude = list(query.exclude)
    r = services.redis()
    pairs = publish.read_popular(r)
    exclude += catalog.website_excluded(r, (s for s, _ in pairs), query.website)
    items = publish.filter_pairs(r, pairs, limit=limit, exclude=exclude)
    body = experiments.tag({"fallback": False, "items": _items(items)}, "popular")  # issue 18
    return _answer(body, "popular", "public, max-age=300")


@bp.errorhandler(publish.redis_lib.RedisError)
def redis_unavailable(exc: Exception) -> tuple[Response, int]:
    """Redis down or slow: say so quickly (the storefront hides the widget) instead of a 500."""
    return jsonify(error=f"recommendations are unavailable ({type(exc).__name__})"), 503
