"""The ceilings of benchmarks.live: the least a web service and a worker could do.

- ``create_app()``, served by gunicorn exactly like ours (same gunicorn.conf.py, same workers):
  ``POST /bare/v1/webhooks/magento/orders`` checks one Standard Webhooks HMAC-SHA256 with
  `hmac.compare_digest` and publishes one Celery message (``send_task`` to the same Redis
  broker), answering 202; ``GET /bare/v1/customers/<id>/recommendations`` answers one Redis
  GET of the customer's list (no token check, no filtering).
- ``celery``: a Celery app whose one task ``bench.touch`` SETs ``bench:touch:<webhook id>``,
  the floor of "POST -> broker -> worker -> Redis" that the freshness ceiling measures:
  ``celery -A benchmarks.bare_apps worker -Q bare_ingest``.

Configured by the same ``DMFREC_*`` variables (REDIS_URL, BROKER_URL, WEBHOOK_SECRETS: the first
secret, as UTF-8 bytes) plus ``BENCH_LIST_VERSION`` (the model version whose lists are read).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import redis as redis_lib
from celery import Celery
from flask import Flask, Response, request

BARE_QUEUE = "bare_ingest"
TOUCH_TASK = "bench.touch"

celery = Celery("bench-bare", broker=os.environ.get("DMFREC_BROKER_URL",
                                                    "redis://127.0.0.1:6379/13"))
celery.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                   task_acks_late=True, worker_prefetch_multiplier=1,
                   worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

_redis: redis_lib.Redis | None = None


def _client() -> redis_lib.Redis:
    global _redis
    if _redis is None:
        _redis = redis_lib.Redis.from_url(os.environ.get("DMFREC_REDIS_URL",
                                                         "redis://127.0.0.1:6379/13"))
    return _redis


@celery.task(name=TOUCH_TASK)
def touch(webhook_id: str) -> None:
    _client().set(f"bench:touch:{webhook_id}", "1", ex=3600)


def create_app() -> Flask:
    app = Flask(__name__)
    secret = os.environ["DMFREC_WEBHOOK_SECRETS"].split(",")[0].strip().encode()
    version = os.environ.get("BENCH_LIST_VERSION", "")
    r = redis_lib.Redis.from_url(os.environ.get("DMFREC_REDIS_URL", "redis://127.0.0.1:6379/13"))
    denied = Response('{"error":"signature rejected"}', 401, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")

    @app.post("/bare/v1/webhooks/magento/orders")
    def webhook() -> Response:
        msg_id = request.headers.get("webhook-id", "")
        ts = request.headers.get("webhook-timestamp", "")
        offered = request.headers.get("webhook-signature", "").partition(",")[2]
        content = f"{msg_id}.{ts}.".encode() + request.get_data()
        expected = base64.b64encode(hmac.new(secret, content, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, offered):
            return denied
        celery.send_task(TOUCH_TASK, args=[msg_id], queue=BARE_QUEUE, retry=False)
        return Response('{"status":"accepted"}', 202, mimetype="application/json")

    @app.get("/bare/v1/customers/<customer_id>/recommendations")
    def recommendations(customer_id: str) -> Response:
        raw = r.get(f"dmfrec:v:{version}:user:{customer_id}")
        return Response(raw or b"[]", mimetype="application/json")

    return app
