"""The storefront's side of A/B tests and analytics: which list a customer's arm gets, and
the recommendation object every answer carries (webhook.recids).

`list_kind` says which list a customer's arm gets (webhook.lists): arm ``dmf`` the model's
(``user``), arm ``popular`` the popular one (as a customer without a model list), arm
``magento`` Magento's own related/up-sell links of what the customer bought (``native``, sent
by the module with the product states). Every arm's answer is tagged, reported and attributed
alike, so the arms are measured the same way. `tag` adds the
``recommendation`` object (id, subject, experiment, arm, version, day, positions); a guest's
answer has it only when the request names a ``session`` (the widget's), and a minted
``session`` when that was ``new`` or not genuine. Without DMFREC_TOKEN_SECRET nothing is tagged
(reports could not be verified).
"""

from __future__ import annotations

import time

from flask import g, request

from storage import experiments
from webhook import recids, services


def _assignment(customer_id: str) -> experiments.Assignment:
    cached = g.get("dmfrec_assignment")
    if cached is None:
        cached = experiments.assign(_config(), customer_id)
        g.dmfrec_assignment = cached
    return cached


def _config() -> dict | None:
    """The experiment config, read from Redis at most once per DMFREC_EXPERIMENT_REFRESH_S
    in this process: the storefront's list stays one Redis round trip (issue 17), and a
    started or stopped experiment reaches every web process within that time."""
    ext = services._ext()
    expires, config = ext.get("experiment", (0.0, None))
    now = time.monotonic()
    if now >= expires:
        config = experiments.read_config(services.redis())
        ext["experiment"] = (now + services.settings().experiment_refresh_s, config)
    return config


LIST_KINDS = {"dmf": "user", "popular": "", "magento": "native"}  # arm -> webhook.lists kind


def list_kind(customer_id: str) -> str:
    """The webhook.lists kind of the customer's arm."""
    return LIST_KINDS[_assignment(customer_id).arm]


def _guest_session(secret: str) -> tuple[str | None, bool]:
    """The request's valid ``?session=``, a new one for any other value (the widget sends
    ``session=new``), or None without the parameter; (session, minted)."""
    given = request.args.get("session")
    if given is None:
        return None, False
    if recids.valid_session(secret, given):
        return given, False
    return recids.mint_session(secret), True


def tag(body: dict, kind: str, customer_id: str | None = None) -> dict:
    """`body` with its ``recommendation`` object (and a guest's ``session``)."""
    secret = services.settings().token_secret
    if not secret:
        return body
    if customer_id is not None:
        subject, assignment = customer_id, _assignment(customer_id)
    else:
        subject, minted = _guest_session(secret)
        if subject is None:  # not the widget: the public answer stays as it was
            return body
        assignment = experiments.Assignment("", "popular" if kind == "popular" else "dmf")
        if minted:
            body["session"] = subject
            g.dmfrec_private = True  # webhook.analytics: never cache a minted session publicly
    skus = [item["sku"] for item in body["items"]]
    day = publish_day()
    version = body.get("version")
    body["recommendation"] = {
        "id": recids.rec_id(secret, subject, assignment.experiment, assignment.arm, version,
                            day, skus),
        "subject": subject, "experiment": assignment.experiment, "arm": assignment.arm,
        "version": version, "day": day, "kind": kind,
        "positions": {sku: k for k, sku in enumerate(skus, 1)},
    }
    return body


def publish_day() -> str:
    from storage.ingestion import utcnow

    return utcnow().date().isoformat()
