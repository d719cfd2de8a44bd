"""The ceilings of benchmarks.live: the least a web service and a worker could do.

- ``create_app()``, served by gunicorn exactly like ours (same gunicorn.conf.py, same workers):
  ``POST /bare/v1/webhooks/magento/orders`` checks one Standard Webhooks HMAC-SHA256 with
  `hmac.compare_digest` and publishes one Celery message (``send_task`` to the same Redis
  broker), answering 202; ``GET /bare/v1/customers/<id>/recommendations`` answers one Redis
  GET of the customer's list (no token check, no filtering); ``GET /bare/v1/popular`` one
  Redis GET of the popular list; ``GET /bare/v1/items/<sku>/similar`` one Redis GET of the
  SKU's similar list.
- The durable webhook ceiling, same app: ``POST /durable/v1/webhooks/magento/orders`` does what
  any webhook that must not lose an event does: the same HMAC check, one INSERT of the raw body
  (keyed by its webhook id) into MariaDB in its own committed transaction, then the same
  Celery message. The table ``bench_durable_events`` lives in the run's own database.
- ``celery``: a Celery app whose one task ``bench.touch`` SETs ``bench:touch:<webhook id>``,
  the floor of "POST -> broker -> worker -> Redis" that the freshness ceiling measures:
  ``celery -A benchmarks.bare_apps worker -Q bare_ingest``.

Configured by the same ``DMFREC_*`` variables (REDIS_URL, BROKER_URL, DATABASE_URL,
WEBHOOK_SECRETS: the first secret, as UTF-8 bytes) plus ``BENCH_LIST_VERSION`` (the model
version whose lists are read).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import redis as redis_lib
from celery import Celery
from flask import Flask, Response, request
from sqlalchemy import create_engine

BARE_QUEUE = "bare_ingest"
DURABLE_TABLE = "bench_durable_events"
DURABLE_DDL = (f"CREATE TABLE IF NOT EXISTS {DURABLE_TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
               "webhook_id VARCHAR(128) NOT NULL UNIQUE, body LONGTEXT NOT NULL, "
               "received_at DATETIME(6) NOT NULL)")
DURABLE_INSERT = (f"INSERT INTO {DURABLE_TABLE} (webhook_id, body, received_at) "
                  "VALUES (%s, %s, UTC_TIMESTAMP(6))")
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
    database_url = os.environ.get("DMFREC_DATABASE_URL", "")
    engine = create_engine(database_url, pool_size=8) if database_url.startswith(
        ("mysql", "mariadb")) else None
    if engine is not None:
        with engine.begin() as conn:
            conn.exec_driver_sql(DURABLE_DDL)

    def signed() -> str | None:
        """The webhook id when the Standard Webhooks signature is right, else None."""
        msg_id = request.headers.get("webhook-id", "")
        ts = request.headers.get("webhook-timestamp", "")
        offered = request.headers.get("webhook-signature", "").partition(",")[2]
        content = f"{msg_id}.{ts}.".encode() + request.get_data()
        expected = base64.b64encode(hmac.new(secret, content, hashlib.sha256).digest()).decode()
        return msg_id if hmac.compare_digest(expected, offered) else None

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")

    @app.post("/bare/v1/webhooks/magento/orders")
    def webhook() -> Response:
        msg_id = signed()
        if msg_id is None:
            return denied
        celery.send_task(TOUCH_TASK, args=[msg_id], queue=BARE_QUEUE, retry=False)
        return Response('{"status":"accepted"}', 202, mimetype="application/json")

    @app.post("/durable/v1/webhooks/magento/orders")
    def durable_webhook() -> Response:
        msg_id = signed()
        if msg_id is None:
            return denied
        if engine is None:
            return Response('{"error":"no MariaDB configured"}', 503,
                            mimetype="application/json")
        with engine.begin() as conn:  # its own transaction, committed before the answer
            conn.exec_driver_sql(DURABLE_INSERT, (msg_id, request.get_data(as_text=True)))
        celery.send_task(TOUCH_TASK, args=[msg_id], queue=BARE_QUEUE, retry=False)
        return Response('{"status":"accepted"}', 202, mimetype="application/json")

    @app.get("/bare/v1/popular")
    def popular() -> Response:
        return Response(r.get("dmfrec:popular") or b"[]", mimetype="application/json")

    @app.get("/bare/v1/items/<sku>/similar")
    def similar(sku: str) -> Response:
        raw = r.get(f"dmfrec:v:{version}:similar:{sku}")
        return Response(raw or b"[]", mimetype="application/json")

    @app.get("/bare/v1/customers/<customer_id>/recommendations")
    def recommendations(customer_id: str) -> Response:
        raw = r.get(f"dmfrec:v:{version}:user:{customer_id}")
        return Response(raw or b"[]", mimetype="application/json")

    return app
