"""The nightly retrain's promotion gate, the cross-host training lock and fine-tune triggers,
on the real Redis and a fresh SQLite database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis as redis_lib
import scipy.sparse as sp
import torch

from model.interactions import Interactions
from storage.models import ModelVersion
from worker import gate, live, publish, training, triggers

ROOT = Path(__file__).resolve().parents[2]
GROUPS = {"a": [f"A{k}" for k in range(6)], "b": [f"B{k}" for k in range(6)]}


@pytest.fixture
def shop(rt, record, make_event, settings):
    """Two taste groups of 12 customers; orders 20 days ago, and new SKUs 2 days ago for the
    even customers (the holdout), plus one customer seen only in the holdout."""
    rt.settings = settings.model_copy(update={"train_epochs": 3, "gate_holdout_days": 7,
                                              "top_n": 3})
    rng = np.random.default_rng(7)
    entity = 7000
    for c in range(24):
        group = GROUPS["a" if c < 12 else "b"]
        old = list(rng.choice(group[:4], size=3, replace=False))
        entity += 1
        live.process_event(rt, record(make_event(f"old{c}", entity_id=entity, customer_id=300 + c,
                                                 lines={s: 1 for s in old},
                                                 minutes_ago=20 * 1440)))
        if c % 2 == 0:
            entity += 1
            live.process_event(rt, record(make_event(
                f"new{c}", entity_id=entity, customer_id=300 + c,
                lines={group[4]: 1, old[0]: 1}, minutes_ago=2 * 1440)))
    live.process_event(rt, record(make_event("newcomer", entity_id=9999, customer_id=999,
                                             lines={"NEW-SKU": 1}, minutes_ago=1440)))
    return rt


def _statuses(rt) -> dict[str, str]:
    with rt.reading() as session:
        return dict(session.query(ModelVersion.version, ModelVersion.status).all())


def test_holdout_keeps_customers_with_new_skus_and_their_earlier_rows():
    before = Interactions(sp.csr_matrix(np.array([[1, 1, 0], [0, 2, 0]], dtype=np.float32)),
                          np.array(["c1", "c2"], dtype=object),
                          np.array(["s1", "s2", "s3"], dtype=object))
    after = Interactions(sp.csr_matrix(np.array([[1, 1], [0, 1], [1, 0]], dtype=np.float32)),
                         np.array(["c1", "c2", "c3"], dtype=object),
                         np.array(["s3", "s2"], dtype=object))
    holdout = gate.make_holdout(before, after)
    # c1 bought s3 (new) and s2 (again); c2 only again; c3 has no earlier row.
    assert holdout.customers == ["c1"]
    assert holdout.targets == [{"s3"}]
    assert holdout.rows.toarray().tolist() == [[1, 1, 0]]


def test_judge_rules():
    assert gate.judge(0.1, None, 5, 0.05, "R").promote
    assert not gate.judge(0.1, 0.2, 0, 0.05, "R").promote  # nothing to judge by: keep active
    assert gate.judge(0.19, 0.2, 5, 0.05, "R").promote  # within 5%
    assert not gate.judge(0.18, 0.2, 5, 0.05, "R").promote
    assert gate.judge(0.3, 0.2, 5, 0.0, "R").promote
    assert gate.judge(None, None, 0, 0.05, "R").promote  # a first model needs no holdout


def test_retrain_without_holdout_stores_valid_json(rt, record, make_event, settings):
    """Orders all inside the holdout: trained on everything, no figure (None, never NaN)."""
    rt.settings = settings.model_copy(update={"train_epochs": 1})
    for c in range(3):
        live.process_event(rt, record(make_event(f"o{c}", entity_id=100 + c,
                                                 customer_id=10 + c, lines={"S1": 1, "S2": 1})))
    summary = training.nightly_retrain(rt)
    assert summary["gate"]["candidate"] is None and summary["gate"]["promote"]
    with rt.reading() as session:
        stored = session.get(ModelVersion, 1).metrics
    assert json.loads(json.dumps(stored, allow_nan=False)) == {"gate": summary["gate"]}


def test_first_retrain_is_promoted_and_serves_holdout_newcomers(shop, r):
    summary = training.nightly_retrain(shop)
    version = summary["version"]
    assert summary["gate"]["promote"] and summary["gate"]["reason"] == "no active model"
    # 12 even customers bought a SKU new to them after the cutoff.
    assert summary["gate"]["n_customers"] == 12
    assert 0.0 <= summary["gate"]["candidate"] <= 1.0
    assert publish.active_version(r) == version and _statuses(shop) == {version: "active"}
    with shop.reading() as session:
        metrics = session.get(ModelVersion, 1).metrics
    assert metrics["gate"]["metric"] == "Recall@3"
    # Trained before the cutoff, served on today's rows: the holdout's newcomers are in.
    loaded = shop.active_model()
    assert "999" in loaded.customer_index and "NEW-SKU" in loaded.sku_index
    assert loaded.model.matrix.nnz == 24 * 3 + 12 + 1  # every live pair (repeats counted once)


def test_worse_candidate_is_rejected_and_the_active_model_stays(shop, r):
    first = training.nightly_retrain(shop)["version"]
    before = {k: r.get(k) for k in r.scan_iter(f"dmfrec:v:{first}:user:*")}
    # Tolerance -1: the candidate must be twice as good as the active model, which it is not
    # (same data, same recipe).
    shop.settings = shop.settings.model_copy(update={"gate_tolerance": -1.0})
    summary = training.nightly_retrain(shop)
    assert summary["status"] == "rejected" and not summary["gate"]["promote"]
    verdict = summary["gate"]
    assert verdict["n_customers"] == 12 and verdict["active"] is not None
    assert verdict["candidate"] < 2 * verdict["active"]
    assert publish.active_version(r) == first
    assert _statuses(shop) == {first: "active", summary["version"]: "rejected"}
    assert not list(r.scan_iter(f"dmfrec:v:{summary['version']}:*"))  # nothing published
    assert {k: r.get(k) for k in r.scan_iter(f"dmfrec:v:{first}:user:*")} == before


def test_candidate_within_tolerance_replaces_the_active_model(shop, r):
    first = training.nightly_retrain(shop)["version"]
    shop.settings = shop.settings.model_copy(update={"gate_tolerance": 1.0})
    summary = training.nightly_retrain(shop)
    assert summary["gate"]["promote"] and summary["version"] != first
    assert publish.active_version(r) == summary["version"]
    assert _statuses(shop) == {first: "retired", summary["version"]: "active"}


def test_retrain_skips_while_another_host_holds_the_lock(shop, settings):
    other = redis_lib.Redis.from_url(settings.redis_url)  # another host's connection
    lock = other.lock(training.TRAIN_LOCK, timeout=60)
    assert lock.acquire(blocking=False)
    try:
        assert training.nightly_retrain(shop) == {"status": "locked"}
        assert training.fine_tune(shop) == {"status": "locked"}
        assert _statuses(shop) == {}
    finally:
        lock.release()
    assert training.nightly_retrain(shop)["gate"]["promote"]


RACE = """
import json, sys, time
from config.settings import Settings
from worker.runtime import Runtime
from worker import training
rt = Runtime.from_settings(Settings())
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
print(json.dumps(training.nightly_retrain(rt)))
"""


def test_two_processes_retrain_at_once_and_only_one_trains(shop, settings):
    env = {**os.environ, "DMFREC_DATABASE_URL": settings.database_url,
           "DMFREC_REDIS_URL": settings.redis_url, "DMFREC_BROKER_URL": settings.broker_url,
           "DMFREC_MODEL_DIR": str(settings.model_dir), "DMFREC_TRAIN_EPOCHS": "40",
           "PYTHONPATH": str(ROOT)}
    start = time.time() + 8  # both import torch first, then race for the lock
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(start)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1])
               for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted("locked" if x.get("status") == "locked" else "trained" for x in results) == \
        ["locked", "trained"]
    assert len(_statuses(shop)) == 1


def test_fine_tune_triggers_count_age_and_claim(r):
    assert not triggers.due(r, after_events=3, after_minutes=10)  # no events
    for _ in range(2):
        triggers.count_event(r)
    assert not triggers.due(r, after_events=3, after_minutes=10)  # starts the clock
    now = time.time()
    assert not triggers.due(r, after_events=3, after_minutes=10, now=now + 60)
    assert triggers.due(r, after_events=3, after_minutes=10, now=now + 601)  # old enough
    assert triggers.count_event(r) == 3
    assert triggers.due(r, after_events=3, after_minutes=0)  # enough events
    assert triggers.claim(r, 60) and not triggers.claim(r, 60)  # one queued at a time
    seen = triggers.events_since_training(r)
    triggers.count_event(r)  # arrives while training runs
    triggers.training_done(r, seen)
    assert triggers.events_since_training(r) == 1 and triggers.claim(r, 60)


def test_fine_tune_if_needed_skips_without_new_events(shop, r):
    training.nightly_retrain(shop)  # trains on everything: the counter is back to 0
    assert triggers.events_since_training(r) == 0
    assert training.fine_tune(shop, if_needed=True) == {"status": "not needed"}


def test_a_fine_tune_passes_the_gate(shop, r):
    first = training.nightly_retrain(shop)["version"]
    summary = training.fine_tune(shop)
    assert summary["gate"]["promote"] and summary["gate"]["n_customers"] == 12
    assert publish.active_version(r) == summary["version"] != first
    assert _statuses(shop) == {first: "retired", summary["version"]: "active"}


def test_a_degraded_fine_tune_is_rejected_and_the_active_model_stays(shop, r):
    first = training.nightly_retrain(shop)["version"]
    tuned = training.tuned_copy(shop)
    torch.manual_seed(0)
    with torch.no_grad():  # a fine-tune gone wrong: weights scrambled
        for net in tuned.model.nets:
            for p in net.parameters():
                p.normal_(0.0, 1.0)
    tuned.model.set_matrix(tuned.model.matrix)  # drop the cached item vectors of the old weights
    summary = training.gate_and_publish(shop, tuned)
    verdict = summary["gate"]
    assert summary["status"] == "rejected" and not verdict["promote"]
    assert verdict["candidate"] < verdict["active"] * (1 - shop.settings.gate_tolerance)
    assert publish.active_version(r) == first
    assert _statuses(shop) == {first: "active", summary["version"]: "rejected"}
