"""Admin endpoints the shop calls, signed like the order webhook (Standard Webhooks headers,
DMFREC_WEBHOOK_SECRETS): ``POST /admin/erase`` when a customer is deleted in Magento.

The database and Redis are erased before the answer (worker.forget); the retained model
artifacts are scrubbed by a queued ``worker.tasks.scrub_artifacts`` (seconds to minutes per
artifact, too long for a request), which beat also runs daily, so a broker outage delays the
scrub but never skips it. Erasing is idempotent: a repeated request answers 200 with zeros.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

import redis as redis_lib
from flask import Blueprint, Response, abort, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import OperationalError

from storage.ingestion import Policy
from webhook import services, signing
from worker import forget

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger("dmfrec.webhook")
SCRUB_TASK = "worker.tasks.scrub_artifacts"


class EraseRequest(BaseModel):
    """Exactly one of a registered customer's id and a guest's email."""

    model_config = ConfigDict(extra="forbid")
    customer_id: Annotated[int, Field(gt=0, lt=2**63, strict=True)] | Annotated[
        str, Field(min_length=1, max_length=20, pattern=r"^[0-9]+$")] | None = None
    email: Annotated[str, Field(min_length=3, max_length=255)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EraseRequest:
        if (self.customer_id is None) == (self.email is None):
            raise ValueError("give exactly one of customer_id and email")
        return self


def _fail(status: int, message: str) -> None:
    response = jsonify(error=message)
    response.status_code = status
    abort(response)


@bp.post("/erase")
def erase() -> tuple[Response, int]:
    """Erase one customer (``{"customer_id": "42"}``) or guest (``{"email": "..."}``)."""
    settings = services.settings()
    body = request.get_data(cache=True)
    try:
        signing.verify(settings.webhook_secret_list, request.headers, body,
                       tolerance_s=settings.webhook_tolerance_s)
    except signing.SignatureError as exc:
        _fail(401, f"signature rejected: {exc}")
    if request.mimetype != "application/json":
        _fail(415, "Content-Type must be application/json")
    try:
        wanted = EraseRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
        _fail(400, f"invalid erase request: {_message(exc)}")
    customer_id = None if wanted.customer_id is None else str(wanted.customer_id)
    try:
        summary = forget.erase_now(services.engine(), services.redis(),
                                   Policy.from_settings(settings), customer_id, wanted.email)
    except ValueError as exc:
        _fail(400, f"invalid erase request: {exc}")
    except OperationalError:
        _fail(503, "database unavailable; nothing erased, retry later")
    except redis_lib.RedisError:
        _fail(503, "Redis unavailable; the database part is erased, retry later")
    try:
        services.celery().send_task(SCRUB_TASK, retry=False)
        artifacts = "queued"
    except Exception:  # broker down: beat's daily scrub does it
        log.warning("could not queue the artifact scrub; the daily one will do it")
        artifacts = "daily"
    return jsonify(status="erased", artifacts=artifacts, **summary), 200


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: "
                         f"{e['msg'].removeprefix('Value error, ')}"
                         for e in exc.errors(include_url=False))
    return str(exc)
