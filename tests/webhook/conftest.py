"""App fixtures (Flask tutorial style): a fresh app and SQLite database per test, the real Redis.

Redis db 15 is both the list store and the Celery broker here, flushed before and after each
test (only that database). Helpers are fixtures so test modules need no imports from here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import Settings
from storage.models import Base, Event
from tests.conftest import make_settings
from webhook import create_app, services, signing, tokens

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused
SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTEyMzQ1Njc4OTA="
OLD_SECRET = "old-plain-secret-being-rotated-out"
TOKEN_SECRET = "token-secret-for-tests-0123456789"
ORIGIN = "https://shop.example"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, webhook_secrets=f"{SECRET},{OLD_SECRET}",
                         token_secret=TOKEN_SECRET, cors_origins=ORIGIN, max_body_bytes=20_000,
                         publish_n=50, top_n=5)


@pytest.fixture
def make_app(r) -> Callable[..., object]:
    """Build an app from settings and create its tables (what `alembic upgrade head` does)."""
    apps = []

    def build(settings: Settings):
        app = create_app(settings)
        app.config["TESTING"] = True
        with app.app_context():
            if settings.database_url.startswith("sqlite"):
                Base.metadata.create_all(services.engine())
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            services.engine().dispose()


@pytest.fixture
def app(make_app, settings):
    return make_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_event() -> Callable[..., dict]:
    """A valid snapshot event body; keyword arguments override order fields."""

    def build(event_id: str = "evt-1", *, entity_id: int = 1001, customer_id: int | None = 42,
              state: str = "processing", items: list[dict] | None = None,
              minutes_ago: int = 10, **order) -> dict:
        at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%d %H:%M:%S")
        return {
            "event_id": event_id,
            "order": {
                "entity_id": entity_id, "increment_id": f"{entity_id:09d}", "store_id": 1,
                "customer_id": customer_id, "customer_email": "c@example.com",
                "state": state, "status": state, "created_at": at, "updated_at": at,
                "items": items or [{"item_id": entity_id * 10, "sku": "SKU-A",
                                    "qty_ordered": 2, "price": 10, "row_total": 20}],
                **order,
            },
        }

    return build


@pytest.fixture
def post_order(client) -> Callable[..., object]:
    """POST a body to the Magento route, signed (with `secret`) unless headers are given."""

    def post(body: dict | bytes, *, secret: str = SECRET, headers: dict | None = None,
             content_type: str = "application/json", timestamp: int | None = None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if headers is None:
            headers = signing.signed_headers(secret, raw, timestamp=timestamp)
        return client.post("/v1/webhooks/magento/orders", data=raw, headers=headers,
                           content_type=content_type)

    return post


@pytest.fixture
def recorded(app) -> Callable[[], list[tuple[str, str]]]:
    """(event_id, status) of every recorded event."""

    def rows() -> list[tuple[str, str]]:
        with app.app_context(), services.engine().connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(Event.event_id, Event.status).order_by(Event.id))]

    return rows


@pytest.fixture
def queued(r) -> Callable[[], list[list]]:
    """Task arguments waiting in the real broker's ingest queue (oldest first)."""

    def args() -> list[list]:
        messages = [json.loads(m) for m in reversed(r.lrange("ingest", 0, -1))]
        return [json.loads(base64.b64decode(m["body"]))[0] for m in messages]

    return args


@pytest.fixture
def secrets() -> dict[str, str]:
    """The configured webhook secrets: the current one and the one being rotated out."""
    return {"current": SECRET, "old": OLD_SECRET}


@pytest.fixture
def closed_port_redis() -> str:
    return CLOSED_PORT_REDIS


@pytest.fixture
def token() -> Callable[..., str]:
    def mint(customer_id: str | int, ttl_s: int = 600, secret: str = TOKEN_SECRET) -> str:
        return tokens.mint(secret, customer_id, ttl_s=ttl_s)

    return mint
