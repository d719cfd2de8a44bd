"""Fixtures of the fuzzing suite: per module a fresh database, Redis db 11 (flushed),
the app built by the real factory, and a live gunicorn serving it over real HTTP.

Nothing is mocked: the webhook writes to MariaDB and sends to the real Celery broker (Redis).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from flask import Flask
from fuzz_support import (
    ADOBE_PUBLIC_PEM,
    CASES,
    MAX_BODY,
    REDIS_URL,
    SECRET,
    TOKEN_SECRET,
    TOLERANCE_S,
    TOTAL_MIN_CASES,
    MariaDB,
    state,
)
from sqlalchemy import Connection, Engine, create_engine

from config.settings import Settings
from storage.db import make_engine
from storage.models import Base
from tests.conftest import TEST_GUEST_SALT, free_port, stop
from webhook import create_app, services

REPO = Path(__file__).resolve().parents[2]


@dataclass
class World:
    """What a fuzz test talks to and inspects: the app, its database and its Redis."""

    app: Flask
    engine: Engine
    conn: Connection  # autocommit: sees every commit at once
    redis: redis_lib.Redis
    settings: Settings

    last: tuple | None = None  # the state after the latest checked case (see before())

    def state(self) -> tuple[dict[str, int], set[str]]:
        return state(self.conn, self.redis)

    def before(self) -> tuple[dict[str, int], set[str]]:
        """The current state: cached from the previous case within one test (halves queries)."""
        return self.last if self.last is not None else self.state()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    server = MariaDB()
    yield server
    server.drop_all()


@pytest.fixture(scope="module")
def fuzz_redis() -> Iterator[redis_lib.Redis]:
    """Redis db 11, flushed before and after the module (that database only)."""
    client = redis_lib.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()  # a missing Redis fails; it never skips
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def fuzz_settings(request, mariadb, tmp_path_factory) -> Settings:
    """Settings on a fresh database (tables created) and Redis db 11.

    MariaDB unless the module sets ``DATABASE = "sqlite"`` (a fresh file: the high-volume
    module, where a MariaDB round trip per case would double the runtime).
    """
    if getattr(request.module, "DATABASE", "mariadb") == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "fuzz.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
    else:
        url = mariadb.new_database()
    return Settings(
        database_url=url, redis_url=REDIS_URL, broker_url=REDIS_URL,
        model_dir=tmp_path_factory.mktemp("models"), webhook_secrets=SECRET,
        token_secret=TOKEN_SECRET, max_body_bytes=MAX_BODY, webhook_tolerance_s=TOLERANCE_S,
        adobe_public_key=ADOBE_PUBLIC_PEM, publish_n=50, top_n=5, popular_refresh_s=0,
        guest_salt=TEST_GUEST_SALT)


@pytest.fixture(scope="module")
def world(fuzz_settings, fuzz_redis) -> Iterator[World]:
    app = create_app(fuzz_settings)
    app.config["TESTING"] = True
    # A plain engine: make_engine's SQLite BEGIN IMMEDIATE would hold the write lock here.
    engine = create_engine(fuzz_settings.database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        yield World(app, engine, conn, fuzz_redis, fuzz_settings)
    engine.dispose()
    with app.app_context():
        services.engine().dispose()


@pytest.fixture(autouse=True)
def _fresh_state_cache(request) -> None:
    """Each test starts without a cached state (earlier tests may have written)."""
    if "world" in request.fixturenames:
        request.getfixturevalue("world").last = None


@dataclass
class Live:
    base: str
    session: requests.Session


@pytest.fixture(scope="module")
def live(fuzz_settings, fuzz_redis, tmp_path_factory) -> Iterator[Live]:
    """gunicorn (gunicorn.conf.py, one worker, four threads) on a free port."""
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom"),
        "DMFREC_DATABASE_URL": fuzz_settings.database_url,
        "DMFREC_REDIS_URL": REDIS_URL, "DMFREC_BROKER_URL": REDIS_URL,
        "DMFREC_WEBHOOK_SECRETS": SECRET, "DMFREC_TOKEN_SECRET": TOKEN_SECRET,
        "DMFREC_MAX_BODY_BYTES": str(MAX_BODY), "DMFREC_WEBHOOK_TOLERANCE_S": str(TOLERANCE_S),
        "DMFREC_ADOBE_PUBLIC_KEY": ADOBE_PUBLIC_PEM, "DMFREC_PUBLISH_N": "50",
        "DMFREC_TOP_N": "5", "DMFREC_POPULAR_REFRESH_S": "0", "DMFREC_GUEST_SALT": TEST_GUEST_SALT,
    }
    log = tmp / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=out)
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(base + "/healthz", timeout=5).status_code == 200:
                break
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc, timeout=5)
            pytest.fail("gunicorn did not start: " + log.read_text()[-3000:])
        time.sleep(0.2)
    yield Live(base, session)
    session.close()
    stop(proc)


@pytest.fixture
def count_case() -> Callable[[str, int], None]:
    def add(module: str, n: int = 1) -> None:
        CASES[module] += n

    return add


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """When every fuzz module ran, fail the run unless they executed >= TOTAL_MIN_CASES."""
    if {"api", "webhook", "skus"} <= CASES.keys() and sum(CASES.values()) < TOTAL_MIN_CASES:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if CASES:
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(CASES.items()))
        terminalreporter.write_line(
            f"fuzz cases executed: {sum(CASES.values())} ({parts}; "
            f"the suite needs >= {TOTAL_MIN_CASES})")
