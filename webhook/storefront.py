"""Storefront lists: a customer's recommendations, similar SKUs, popular SKUs.

These read Redis only (never the database or a model), so they stay fast and keep working
while training runs or the database is busy. Lists are over-fetched when published and filtered
at read time, in one round trip (webhook.lists): hidden SKUs (disabled, out of stock), the
caller's ``exclude`` and ``website`` and, for a customer, what the customer already bought.
A customer without a list gets the popular one, marked ``"fallback": true``. A customer's list
needs a token minted for that customer (webhook.tokens).
"""

from __future__ import annotations

import json
from functools import cache

from flask import Blueprint, Response, abort, jsonify, request

from webhook import experiments, lists, services, tokens
from webhook.metrics import STOREFRONT_LISTS
from webhook.query import CustomerListQuery, ListQuery, Q, parse
from worker import publish

bp = Blueprint("storefront", __name__, url_prefix="/v1")
# The counter's children bound once: a labels() lookup per request costs more than the inc.
LISTS_SERVED = {(kind, fallback): STOREFRONT_LISTS.labels(kind, str(fallback).lower())
                for kind in ("customer", "similar", "popular") for fallback in (False, True)}


def _query(model: type[Q]) -> tuple[Q, int]:
    """The route's validated query parameters (400 naming any bad one), and the list size."""
    settings = services.settings()
    if request.environ.get("QUERY_STRING"):
        query = parse(model, max_limit=settings.publish_n)
    else:  # nothing to validate: the defaults (frozen, so one instance serves every request)
        query = _defaults(model)
    return query, query.limit or min(settings.top_n, settings.publish_n)


@cache
def _defaults(model: type[Q]) -> Q:
    return model()


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


def _answer(head: dict, served: lists.Served, kind: str, cache: str,
            customer_id: str | None = None, session: str | None = None) -> Response:
    """`head` (the answer's fields before ``items``: add any new field there) followed by the
    script's ready-made ``items`` JSON, spliced as text rather than decoded and re-encoded.
    An answer that carries a recommendation id (issue 18: a customer's, or the widget's with
    a ``session``) decodes its few served items once, for their SKUs and positions."""
    LISTS_SERVED[kind, served.fallback].inc()
    if services.settings().token_secret and (
            customer_id is not None or session is not None):
        body = experiments.tag({**head, "items": json.loads(served.items)}, kind, customer_id)
        text = json.dumps(body, separators=(",", ":"))
    else:
        text = json.dumps(head, separators=(",", ":"))
        text = f'{text[:-1]},"items":{served.items}}}'
    response = Response(text, mimetype="application/json")
    response.headers["Cache-Control"] = cache
    return response


@bp.get("/customers/<customer_id>/recommendations")
def customer_recommendations(customer_id: str) -> Response:
    _authorize(customer_id)
    query, limit = _query(CustomerListQuery)
    buyer = customer_id if services.settings().exclude_purchased else None
    # issue 18: the customer's A/B arm decides which list is served: the model's, the popular
    # one (marked a fallback, as for a customer without a list) or Magento's own links.
    kind = experiments.list_kind(customer_id)
    served = lists.serve(services.list_script(), kind, customer_id if kind else "", limit=limit,
                         exclude=query.exclude, website=query.website, buyer=buyer)
    fallback = served.fallback or not kind
    head = {"customer_id": customer_id, "version": None if fallback else served.version,
            "fallback": fallback}
    return _answer(head, served, "customer", "private, max-age=60", customer_id)


@bp.get("/items/<sku>/similar")
def similar_items(sku: str) -> Response:
    query, limit = _query(ListQuery)
    served = _ready_or_served(query, "similar", sku, limit, exclude=[*query.exclude, sku])
    head = {"sku": sku, "version": None if served.fallback else served.version,
            "fallback": served.fallback}
    return _answer(head, served, "similar", "public, max-age=300", session=query.session)


@bp.get("/popular")
def popular() -> Response:
    query, limit = _query(ListQuery)
    served = _ready_or_served(query, "", "", limit, exclude=query.exclude)
    return _answer({"fallback": False}, served, "popular", "public, max-age=300",
                   session=query.session)


def _ready_or_served(query: ListQuery, kind: str, key: str, limit: int, *,
                     exclude: list[str]) -> lists.Served:
    """A list that depends on no request parameter but the limit (no exclude, website or
    session) is one HGET of its ready answer once served (webhook.lists: writers delete the
    answers); any other request runs the script."""
    if query.exclude or query.website is not None or query.session is not None:
        return lists.serve(services.list_script(), kind, key, limit=limit, exclude=exclude,
                           website=query.website, buyer=None)
    field = lists.answer_field(kind, key, limit)
    return lists.cached(services.redis(), field) or lists.serve(
        services.list_script(), kind, key, limit=limit, exclude=exclude, website=None,
        buyer=None, keep_as=field)


@bp.errorhandler(publish.redis_lib.RedisError)
def redis_unavailable(exc: Exception) -> tuple[Response, int]:
    """Redis down or slow: say so quickly (the storefront hides the widget) instead of a 500."""
    return jsonify(error=f"recommendations are unavailable ({type(exc).__name__})"), 503
