"""The training lock: a short TTL renewed by a heartbeat (real Redis, a real training process).

A run longer than the TTL keeps its lock; a run SIGKILLed mid-training frees it within the
TTL, so the next run starts (DMFREC_TRAIN_LOCK_TTL_S, 300 s by default: well within 10 min).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_lib

from worker import training, triggers

ROOT = Path(__file__).resolve().parents[2]
TTL = 2


@pytest.fixture
def shop(seed_shop):
    return seed_shop(seed=3, train_epochs=1, train_members=1, train_lock_ttl_s=TTL)


def _taken(settings) -> bool:
    """Whether another host could take the lock now (it gives it back at once if so)."""
    other = redis_lib.Redis.from_url(settings.redis_url)
    lock = other.lock(training.TRAIN_LOCK, timeout=60)
    try:
        if lock.acquire(blocking=False):
            lock.release()
            return False
        return True
    finally:
        other.close()


def test_a_run_longer_than_the_ttl_keeps_its_lock_and_its_claim(shop, r):
    r.set(triggers.QUEUED, "1", ex=3600)
    with training.train_lock(shop, also=(triggers.QUEUED,)) as held:
        assert held
        time.sleep(3 * TTL + 0.5)
        assert _taken(shop.settings)
        assert 0 < r.pttl(training.TRAIN_LOCK) <= TTL * 1000
        assert 0 < r.ttl(triggers.QUEUED) <= TTL  # the claim dies with a killed run too
        assert training.nightly_retrain(shop) == {"status": "locked"}
    assert not _taken(shop.settings)  # released at the end


KILLED = """
from config.settings import Settings
from worker.runtime import Runtime
from worker import training
rt = Runtime.from_settings(Settings())
training.nightly_retrain(rt)
"""


def test_a_killed_retrain_frees_the_lock_within_the_ttl(shop, settings, r):
    env = {**os.environ, "DMFREC_DATABASE_URL": settings.database_url,
           "DMFREC_REDIS_URL": settings.redis_url, "DMFREC_BROKER_URL": settings.broker_url,
           "DMFREC_MODEL_DIR": str(settings.model_dir), "DMFREC_TRAIN_EPOCHS": "1000000",
           "DMFREC_TRAIN_PATIENCE": "1000000",  # no early stop: it trains until killed
           "DMFREC_TRAIN_MEMBERS": "1", "DMFREC_TRAIN_LOCK_TTL_S": str(TTL),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED], env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not r.exists(training.TRAIN_LOCK):
            assert proc.poll() is None and time.monotonic() < deadline, "no run took the lock"
            time.sleep(0.05)
        time.sleep(3 * TTL)  # training, past its TTL: still held
        assert proc.poll() is None and _taken(settings)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = time.monotonic()
    while (summary := training.nightly_retrain(shop)) == {"status": "locked"}:
        assert time.monotonic() - killed < TTL + 2, "the dead run's lock outlived its TTL"
        time.sleep(0.1)
    assert summary["gate"]["promote"]


def test_the_nightly_retrain_waits_for_a_dead_runs_lock(shop, settings):
    """What the nightly task does (two TTLs' wait): a lock nobody renews any more (its run
    was killed) expires within the TTL, and tonight's retrain then runs instead of giving up."""
    other = redis_lib.Redis.from_url(settings.redis_url)
    try:
        assert other.lock(training.TRAIN_LOCK, timeout=TTL).acquire(blocking=False)
        assert training.nightly_retrain(shop) == {"status": "locked"}  # no wait: gives up
        started = time.monotonic()
        with training.train_lock(shop, wait_s=2 * TTL) as held:
            waited = time.monotonic() - started
        assert held and waited <= TTL + 0.5
        assert other.lock(training.TRAIN_LOCK, timeout=TTL).acquire(blocking=False)
        assert training.nightly_retrain(shop, wait_s=2 * TTL)["gate"]["promote"]
    finally:
        other.close()
