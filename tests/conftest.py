"""Fixtures shared by every test module: the real data sets, and the real Redis (db 15)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import redis as redis_lib

REPO = Path(__file__).resolve().parent.parent
TEST_REDIS_URL = os.environ.get("DMFREC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Services refuse the default guest salt (config.settings.service_settings).
TEST_GUEST_SALT = "guest-salt-for-tests-only-0123456789"


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout (CI lays it there), or $DMFREC_SHARED_DATA."""
    for candidate in (os.environ.get("DMFREC_SHARED_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data sets not found (../shared/data); synthetic tests still run")
    return path


@pytest.fixture
def r() -> redis_lib.Redis:
    """The real Redis, test database flushed before and after (only that database)."""
    client = redis_lib.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    client.ping()  # a missing Redis fails the test; it must never skip
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def stop(*procs: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM every process (a clean shutdown), then SIGKILL whichever outlives `timeout`."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_settings(tmp_path: Path, **overrides):
    """Settings on a fresh SQLite file in `tmp_path` and the test Redis (lists and broker),
    with a non-default guest salt (as a service requires)."""
    from config.settings import Settings

    overrides.setdefault("guest_salt", TEST_GUEST_SALT)
    overrides.setdefault("experiment_refresh_s", 0)  # tests see a started experiment at once
    return Settings(database_url=f"sqlite:///{tmp_path / 'dmfrec.db'}", redis_url=TEST_REDIS_URL,
                    broker_url=TEST_REDIS_URL, model_dir=tmp_path / "models", **overrides)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
