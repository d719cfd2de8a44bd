"""The web service: signed Magento webhooks in, storefront lists out (read from Redis only).

``gunicorn 'webhook:create_app()'`` (gunicorn.conf.py names it, so plain ``gunicorn`` works);
``flask --app webhook run`` for development.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from config import logs
from config.settings import Settings, service_settings

_STARTED, _REQUEST_ID = "dmfrec.started", "dmfrec.request_id"  # WSGI environ keys


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from `settings` (default: the ``DMFREC_*`` environment).

    Raises config.settings.UnsafeSettingsError (naming the variables) on weak secrets, the
    default guest salt or the demo page outside the demo: the app never starts with them.
    """
    from flask_cors import CORS

    from webhook import catalog, health, openapi, services, storefront, webhooks, widget
    from webhook.admin import bp as admin_bp  # issue 16: erasure
    from webhook.analytics import bp as analytics_bp  # issue 18: impressions and clicks
    from webhook.dashboard import bp as dashboard_bp  # issue 18: merchant dashboard

    settings = service_settings(settings)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json.sort_keys = False
    logs.configure()
    services.init_app(app, settings)

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(catalog.bp)
    app.register_blueprint(storefront.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(widget.bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(analytics_bp)  # issue 18
    app.register_blueprint(dashboard_bp)  # issue 18
    if settings.cors_origin_list:
        CORS(
            app,
            resources={r"/v1/(customers|items|popular)(/.*)?": {}},
            origins=settings.cors_origin_list,
            methods=["GET", "OPTIONS"],
            allow_headers=["Authorization"],
            max_age=600,
        )

    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _start_request() -> None:
    # Kept in the WSGI environ (one proxy lookup) rather than on `g`: these two hooks run on
    # every request, the storefront's cheapest included (issue #17).
    environ = request.environ
    request_id = environ.get("HTTP_X_REQUEST_ID") or os.urandom(16).hex()
    environ[_STARTED] = time.perf_counter()
    environ[_REQUEST_ID] = request_id
    logs.reset(request_id=request_id)


def _finish_request(response: Response) -> Response:
    from webhook.metrics import observe_request

    environ = request.environ
    started = environ.get(_STARTED)
    if started is not None:
        observe_request(request.endpoint or "unmatched", environ["REQUEST_METHOD"],
                        str(response.status_code), time.perf_counter() - started)
    response.headers.setdefault("X-Request-Id", environ.get(_REQUEST_ID, ""))
    return response


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    """Every HTTP error as JSON: ``{"error": "..."}``."""
    response = jsonify(error=exc.description or exc.name)
    return response, exc.code or 500
