"""``POST /v1/analytics/events``: the widget's batched impression and click reports.

Sent with ``navigator.sendBeacon`` as ``text/plain`` JSON (no CORS preflight, which beacons
cannot make)::

    {"token": "<storefront token, customers only>",
     "reports": [{"recommendation": {"id", "subject", "experiment", "arm", "version", "day",
                                     "skus": [...served SKUs in order]},
                  "events": [{"type": "impression"|"click", "sku": "...", "position": 1}]}]}

Every report is checked before anything is written, and one bad report refuses the whole
beacon: over DMFREC_ANALYTICS_MAX_BODY_BYTES 413, not JSON or not this shape 400, a
recommendation whose fields do not hash to its id (webhook.recids) or a SKU not at that
position 403, a customer's report without that customer's token 401/403, a guest session this
service did not mint 403, a day other than today or yesterday (UTC) 400. Accepted events are
stored once per (recommendation id, SKU, kind): resending a beacon or reloading the page
counts nothing twice.
"""

from __future__ import annotations

import hmac
import json
from datetime import date, timedelta
from typing import Annotated, Literal

from flask import Blueprint, Response, abort, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storage.analytics import record_events
from storage.analytics_models import ARM_LEN, NAME_LEN, REC_ID_LEN
from storage.ingestion import utcnow
from storage.models import KEY_LEN, SKU_LEN
from webhook import recids, services, tokens

bp = Blueprint("analytics", __name__, url_prefix="/v1/analytics")
MAX_REPORTS = 20
MAX_EVENTS = 200
MAX_SKUS = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Served(_Strict):
    id: str = Field(min_length=REC_ID_LEN, max_length=REC_ID_LEN)
    subject: str = Field(min_length=1, max_length=KEY_LEN)
    experiment: str = Field("", max_length=NAME_LEN)
    arm: str = Field(min_length=1, max_length=ARM_LEN)
    version: str | None = Field(None, max_length=64)
    day: date
    skus: Annotated[list[Annotated[str, Field(min_length=1, max_length=SKU_LEN)]],
                    Field(max_length=MAX_SKUS)]


class Seen(_Strict):
    type: Literal["impression", "click"]
    sku: str = Field(min_length=1, max_length=SKU_LEN)
    position: int = Field(ge=1, le=MAX_SKUS)


class Report(_Strict):
    recommendation: Served
    events: Annotated[list[Seen], Field(min_length=1, max_length=MAX_EVENTS)]


class Beacon(_Strict):
    token: str | None = Field(None, max_length=512)
    reports: Annotated[list[Report], Field(min_length=1, max_length=MAX_REPORTS)]


def _parse() -> Beacon:
    limit = services.settings().analytics_max_body_bytes
    if (request.content_length or 0) > limit:
        abort(413, f"analytics reports are limited to {limit} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        abort(413, f"analytics reports are limited to {limit} bytes")
    try:
        return Beacon.model_validate(json.loads(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors()[:5])
            abort(400, f"invalid analytics report: {problems}")
        abort(400, "analytics reports must be a JSON object")


def _check(beacon: Beacon, secret: str) -> None:
    """Abort (writing nothing) unless every report is genuine and its sender may send it."""
    today = utcnow().date()
    customer = None
    for n, report in enumerate(beacon.reports):
        rec = report.recommendation
        if rec.day not in (today, today - timedelta(days=1)):
            abort(400, f"reports[{n}]: recommendation day {rec.day} is not today or yesterday")
        expected = recids.rec_id(secret, rec.subject, rec.experiment, rec.arm, rec.version,
                                 rec.day.isoformat(), rec.skus)
        if not _same(expected, rec.id):
            abort(403, f"reports[{n}]: the recommendation was not served as reported")
        for event in report.events:
            if rec.skus[event.position - 1:event.position] != [event.sku]:
                abort(403, f"reports[{n}]: {event.sku!r} was not served at position "
                      f"{event.position}")
        if recids.is_session(rec.subject):
            if not recids.valid_session(secret, rec.subject):
                abort(403, f"reports[{n}]: unknown guest session")
            continue
        if customer is None:
            customer = _token_customer(beacon.token, secret)
        if customer != rec.subject:
            abort(403, f"reports[{n}]: the token was minted for another customer")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode("utf-8", "replace"))


def _token_customer(token: str | None, secret: str) -> str:
    if not token:
        abort(401, "a customer's report needs the customer's storefront token")
    try:
        return tokens.verify(secret, token,
                             max_ttl_s=services.settings().token_max_ttl_s).customer_id
    except tokens.TokenError as exc:
        abort(401, str(exc))


@bp.post("/events")
def report_events() -> tuple[Response, int]:
    secret = services.settings().token_secret
    if not secret:
        abort(503, "analytics need DMFREC_TOKEN_SECRET")
    beacon = _parse()
    _check(beacon, secret)
    now = utcnow()
    rows = {}
    for report in beacon.reports:
        rec = report.recommendation
        for event in report.events:
            rows[(rec.id, event.sku, event.type)] = {
                "rec_id": rec.id, "sku": event.sku, "kind": event.type,
                "position": event.position, "subject": rec.subject,
                "experiment": rec.experiment, "arm": rec.arm, "version": rec.version, "at": now}
    record_events(services.engine(), [rows[k] for k in sorted(rows)])
    return jsonify(accepted=len(rows)), 202


@bp.after_app_request
def _private_session(response: Response) -> Response:
    """A freshly minted guest session must not be stored by a shared cache (webhook.experiments)."""
    if g.get("dmfrec_private"):
        response.headers["Cache-Control"] = "private, no-store"
    return response
