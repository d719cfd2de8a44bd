"""Fixtures for the worker tests: the real Redis (db 15, flushed), a fresh SQLite database,
and a worker `Runtime` built on both."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import Settings
from storage.ingestion import receive
from storage.models import Base, Event
from tests.conftest import make_settings
from worker import live
from worker.runtime import Runtime


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, publish_n=10, popular_refresh_s=0, pending_after_s=0,
                         value_scheme="log1p")


@pytest.fixture
def rt(settings: Settings, r) -> Runtime:
    runtime = Runtime.from_settings(settings)
    Base.metadata.create_all(runtime.engine)
    yield runtime
    runtime.engine.dispose()
    runtime.redis.close()


@pytest.fixture
def make_event() -> Callable[..., dict]:
    """A valid snapshot event body: `lines` maps SKU -> qty ordered (or (qty, canceled))."""

    def build(event_id: str, *, entity_id: int = 1001, customer_id: int | None = 42,
              state: str = "processing", lines: dict | None = None, minutes_ago: int = 10,
              products: list[dict] | None = None) -> dict:
        at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%d %H:%M:%S")
        items = []
        for k, (sku, qty) in enumerate((lines or {"SKU-A": 1}).items()):
            ordered, canceled = qty if isinstance(qty, tuple) else (qty, 0)
            items.append({"item_id": entity_id * 100 + k, "sku": sku, "qty_ordered": ordered,
                          "qty_canceled": canceled, "price": 10, "row_total": 10 * ordered})
        return {
            "event_id": event_id,
            "order": {"entity_id": entity_id, "increment_id": str(entity_id),
                      "customer_id": customer_id, "customer_email": f"c{entity_id}@example.com",
                      "customer_is_guest": customer_id is None,
                      "state": state, "created_at": at, "updated_at": at, "items": items},
            "products": products or [],
        }

    return build


@pytest.fixture
def record(rt) -> Callable[[dict], str]:
    """Record an event as the webhook does (storage's fast path); returns its id."""

    def rec(body: dict) -> str:
        event, _ = receive(rt.engine, json.dumps(body).encode())
        return event.event_id

    return rec


@pytest.fixture
def status(rt) -> Callable[[str], str | None]:
    def get(event_id: str) -> str | None:
        with rt.reading() as session:
            return session.scalar(select(Event.status).where(Event.event_id == event_id))

    return get


@pytest.fixture
def queued(r) -> Callable[[], list[list]]:
    """Task arguments waiting in the real broker's ingest queue (oldest first)."""

    def args() -> list[list]:
        messages = [json.loads(m) for m in reversed(r.lrange("ingest", 0, -1))]
        return [json.loads(base64.b64decode(m["body"]))[0] for m in messages]

    return args


@pytest.fixture
def seed_shop(rt, record, make_event, settings) -> Callable[..., Runtime]:
    """`rt` with settings overridden and `n` customers (ids 200...) who bought 3 of `skus`
    each, ingested as the live loop does."""

    def seed(*, n: int = 8, seed: int = 1, skus: str = "ABCDEFG", **overrides) -> Runtime:
        import numpy as np

        rt.settings = settings.model_copy(update=overrides)
        rng = np.random.default_rng(seed)
        for c in range(n):
            lines = {f"SKU-{s}": 1 for s in rng.choice(list(skus), size=3, replace=False)}
            live.process_event(rt, record(make_event(f"o{c}", entity_id=5000 + c,
                                                     customer_id=200 + c, lines=lines)))
        return rt

    return seed
