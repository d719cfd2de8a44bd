"""The app's connections (database engine, Redis, broker client): made once per app in
`init_app`, looked up per request through the accessors below.

Timeouts are short: a request must fail fast rather than hang on a sick dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis as redis_lib
from flask import Flask, current_app
from sqlalchemy import Engine

from config.settings import Settings
from storage.db import make_engine

if TYPE_CHECKING:
    from celery import Celery
    from redis.commands.core import Script


def init_app(app: Flask, settings: Settings) -> None:
    from webhook import lists
    from worker.celery_app import make_celery

    r = redis_lib.Redis.from_url(settings.redis_url, decode_responses=True,
                                 socket_connect_timeout=1, socket_timeout=1,
                                 health_check_interval=30)
    timeouts = _connect_timeout(settings.database_url)
    engine = make_engine(settings.database_url, **timeouts)
    app.extensions["dmfrec"] = {
        "settings": settings,
        "engine": engine,
        # Webhook receipts: one autocommitted INSERT each on MariaDB (storage.db.insert_new);
        # SQLite keeps the one engine (its writers are serialised anyway).
        "ingest_engine": make_engine(settings.database_url, autocommit=True, **timeouts)
        if timeouts else engine,
        "redis": r,
        "list_script": lists.register(r),
        "celery": make_celery(settings, main="dmfrec-web", fail_fast=True),
    }


def _connect_timeout(url: str, seconds: int = 2) -> dict:
    """Short timeouts for MySQL/MariaDB: a webhook must not hang on a dead or stuck server
    (the Adobe route then spools the event and still answers within Adobe's timeout)."""
    if url.startswith(("mysql", "mariadb")):
        return {"connect_args": {"connect_timeout": seconds, "read_timeout": 5,
                                 "write_timeout": 5}}
    return {}


def _ext() -> dict:
    return current_app.extensions["dmfrec"]


def settings() -> Settings:
    return _ext()["settings"]


def engine() -> Engine:
    return _ext()["engine"]


def ingest_engine() -> Engine:
    """The engine of `storage.ingestion.receive`: autocommit, its own pool (MariaDB/MySQL)."""
    return _ext()["ingest_engine"]


def redis() -> redis_lib.Redis:
    return _ext()["redis"]


def list_script() -> Script:
    """The storefront's one-round-trip list script (webhook.lists), bound to `redis()`."""
    return _ext()["list_script"]


def celery() -> Celery:
    return _ext()["celery"]
