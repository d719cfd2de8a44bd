"""Artifact pruning and bought-set expiry (real Redis, SQLite, real tiny models)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from storage.models import ModelVersion
from worker import live, publish, retention, training


def test_artifacts_beyond_the_newest_k_are_pruned_never_the_active_one(rt, r, record,
                                                                        make_event, settings):
    rt.settings = settings.model_copy(update={"train_epochs": 1, "train_members": 1,
                                              "fine_tune_epochs": 1, "gate_tolerance": 1.0,
                                              "artifacts_kept": 2})
    for c in range(4):
        live.process_event(rt, record(make_event(f"o{c}", entity_id=100 + c,
                                                 customer_id=10 + c,
                                                 lines={"A": 1, f"S{c}": 1})))
    versions = [training.nightly_retrain(rt)["version"]]
    versions += [training.fine_tune(rt)["version"] for _ in range(2)]
    assert publish.active_version(r) == versions[-1]
    assert retention.prune_artifacts(rt) == [versions[0]]
    assert retention.prune_artifacts(rt) == []  # once
    with rt.reading() as session:
        rows = {v: (Path(p), n) for v, p, n in session.execute(
            select(ModelVersion.version, ModelVersion.artifact_path, ModelVersion.notes))}
    assert not rows[versions[0]][0].exists() and "artifact pruned" in rows[versions[0]][1]
    assert all(rows[v][0].is_dir() for v in versions[1:])
    assert retention.run(rt) == {"events_purged": 0, "artifacts_pruned": []}
    # The active version keeps its files whatever K, even when it is not the newest.
    publish.activate_version(r, versions[1])
    assert retention.prune_artifacts(rt, keep=1) == []
    assert rows[versions[1]][0].is_dir() and rows[versions[2]][0].is_dir()
    publish.activate_version(r, versions[2])
    assert retention.prune_artifacts(rt, keep=1) == [versions[1]]
    assert rows[versions[2]][0].is_dir()


def test_bought_sets_expire_with_the_window(rt, r, record, make_event):
    live.process_event(rt, record(make_event("e1")))
    window = rt.settings.window_days * 86400
    assert window - 5 <= r.ttl(publish.bought_key("42")) <= window
