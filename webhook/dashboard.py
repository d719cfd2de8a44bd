"""The merchant dashboard: ``/dashboard`` (a page) and ``/dashboard/data.json`` behind
DMFREC_ADMIN_TOKEN (off, 404, while it is empty).

Per day, experiment and arm: impressions, clicks, CTR, orders and attributed revenue (last
``?days=``, default 30; lists served outside any experiment, e.g. to guests, apart); the
active model version, the last retrain and its gate figures, events pending, freshness, the
experiment served. Charts are drawn by Chart.js, vendored under
``webhook/static/vendor/chartjs`` (MIT, licence kept) and served from here: no network needed.

Sign in once with ``/dashboard?token=<admin token>``: the token goes into an HttpOnly,
SameSite=Strict cookie limited to /dashboard and the address loses it (a redirect), or send
``Authorization: Bearer <admin token>``.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Response, abort, jsonify, redirect, request, send_from_directory

from storage import analytics, experiments, ops_status
from storage.ingestion import utcnow
from webhook import services

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
STATIC = Path(__file__).parent / "static"
COOKIE = "dmfrec_admin"
SCRIPTS = ("chart.umd.min.js", "dashboard.js")


def _authorized() -> bool:
    expected = services.settings().admin_token
    if not expected:
        abort(404)
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else request.cookies.get(
        COOKIE, "")
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _sign_in() -> Response | None:
    """``?token=``: a right one becomes the cookie (and leaves the address)."""
    given = request.args.get("token")
    if given is None:
        return None
    if not hmac.compare_digest(services.settings().admin_token.encode(),
                               given.encode("utf-8", "replace")):
        abort(401, "wrong admin token")
    response = redirect(request.path, code=303)
    response.set_cookie(COOKIE, given, httponly=True, samesite="Strict", path="/dashboard",
                        secure=request.is_secure, max_age=8 * 3600)
    return response


@bp.get("")
def page() -> Response:
    if not _authorized():
        signed_in = _sign_in()
        if signed_in is not None:
            return signed_in
        abort(401, "the dashboard needs the admin token: /dashboard?token=...")
    response = send_from_directory(STATIC, "dashboard.html", mimetype="text/html", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/static/<path:name>")
def static(name: str) -> Response:
    if name not in SCRIPTS:
        abort(404)
    folder = STATIC / "vendor" / "chartjs" if name.startswith("chart") else STATIC
    return send_from_directory(folder, name, mimetype="text/javascript", max_age=3600)


@bp.get("/data.json")
def data() -> Response:
    if not _authorized():
        abort(401, "the dashboard needs the admin token")
    days = request.args.get("days", "30")
    if not (days.isascii() and days.isdigit() and 1 <= int(days) <= 366):
        abort(400, "days must be an integer from 1 to 366")
    since = utcnow() - timedelta(days=int(days) - 1)
    since = since.replace(hour=0, minute=0, second=0, microsecond=0)
    engine = services.engine()
    body = {"days": analytics.daily_figures(engine, since), **ops_status.status(engine),
            "experiment": experiments.read_config(services.redis())}
    if body["experiment"]:
        body["experiment"].pop("salt", None)  # the salt would reveal everybody's arm
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
