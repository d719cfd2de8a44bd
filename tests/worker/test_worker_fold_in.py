"""With a real (tiny) DMF model: full version publish, then live fold-in of a new order."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.sparse as sp

from model.recommender import DMF
from storage.models import ModelVersion
from worker import live, publish
from worker.versions import publish_model_version

SKUS = [f"SKU-{c}" for c in "ABCDEFGHIJKL"]
CUSTOMERS = [str(c) for c in range(100, 130)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A DMF trained for a few epochs on a seeded random shop (once per module)."""
    rng = np.random.default_rng(0)
    dense = (rng.random((len(CUSTOMERS), len(SKUS))) < 0.3).astype(np.float32)
    dense[:, 0] = 1.0  # SKU-A: everyone bought it
    model = DMF(user_layers=(16, 8), item_layers=(16, 8), epochs=3, batch_size=64, device="cpu")
    model.fit(sp.csr_matrix(dense), progress=False)
    path = tmp_path_factory.mktemp("model") / "artifact"
    model.save(path, metadata={"customer_ids": CUSTOMERS, "skus": SKUS})
    return path, dense


@pytest.fixture
def trained(rt, settings, tiny_model):
    """The tiny model as version v-test under this test's model folder."""
    path, dense = tiny_model
    version = "v-test"
    shutil.copytree(path, settings.model_dir / version)
    return version, dense


def test_publish_model_version_then_activate(rt, r, trained, settings):
    version, dense = trained
    summary = publish_model_version(rt, version)
    assert summary == {"version": version, "previous": None, "n_users": len(CUSTOMERS),
                       "n_items": len(SKUS), "folded_in": 0}  # not registered: no data time
    assert publish.active_version(r) == version
    for k, customer in enumerate(CUSTOMERS):
        _, pairs = publish.read_user_list(r, customer)
        bought = {SKUS[j] for j in np.flatnonzero(dense[k])}
        unseen = set(SKUS) - bought
        assert {s for s, _ in pairs} <= unseen  # nothing the customer bought
        assert len(pairs) == min(settings.publish_n, len(unseen))
        scores = [s for _, s in pairs]
        assert scores == sorted(scores, reverse=True)
    _, similar = publish.read_similar(r, "SKU-B")
    assert len(similar) == min(settings.publish_n, len(SKUS) - 1)
    assert "SKU-B" not in {s for s, _ in similar}


def test_new_order_is_folded_in_through_the_active_model(rt, r, trained, record, make_event):
    version, _ = trained
    publish_model_version(rt, version)
    # Customer 42 is unknown to the model: fold-in needs no training, only the new row.
    live.process_event(rt, record(make_event("e1", lines={"SKU-B": 2, "SKU-NEW": 1})))
    got, pairs = publish.read_user_list(r, "42")
    assert got == version
    skus = [s for s, _ in pairs]
    assert "SKU-B" not in skus and "SKU-NEW" not in skus
    assert len(skus) == min(rt.settings.publish_n, len(SKUS) - 1)
    # Cancel it: the row is empty, the list goes, the storefront falls back to popular.
    live.process_event(rt, record(make_event("e2", minutes_ago=1, state="canceled",
                                             lines={"SKU-B": (2, 2), "SKU-NEW": (1, 1)})))
    assert publish.read_user_list(r, "42") == (version, None)


def test_registered_artifact_path_and_status_follow_activation(rt, r, trained, settings):
    version, _ = trained
    moved = settings.model_dir / "elsewhere"
    (settings.model_dir / version).rename(moved)
    with rt.sessions() as session:
        from datetime import datetime

        session.add_all([
            ModelVersion(version=version, status="candidate", artifact_path=str(moved),
                         created_at=datetime(2026, 1, 1)),
            ModelVersion(version="v-old", status="active", artifact_path="/nowhere",
                         created_at=datetime(2025, 1, 1)),
        ])
        session.commit()
    publish.publish_user_lists(r, "v-old", {"1": [("X", 1.0)]})
    publish.activate_version(r, "v-old")
    assert publish_model_version(rt, version)["previous"] == "v-old"
    with rt.reading() as session:
        statuses = dict(session.query(ModelVersion.version, ModelVersion.status).all())
    assert statuses == {version: "active", "v-old": "retired"}
    assert 0 < r.ttl(publish.user_key("v-old", "1")) <= settings.version_ttl_s


def test_fold_in_sees_the_training_window_and_excludes_everything_bought(
        rt, r, trained, record, make_event, settings):
    """A purchase older than DMFREC_WINDOW_DAYS is excluded from the list but is not an
    input to the model, as it was not in the training matrix."""
    version, _ = trained
    rt.settings = settings.model_copy(update={"window_days": 30})
    publish_model_version(rt, version)
    live.process_event(rt, record(make_event("old", entity_id=1, customer_id=777,
                                             lines={"SKU-C": 1}, minutes_ago=60 * 24 * 40)))
    live.process_event(rt, record(make_event("new", entity_id=2, customer_id=777,
                                             lines={"SKU-D": 2}, minutes_ago=5)))
    assert r.smembers(publish.bought_key("777")) == {"SKU-C", "SKU-D"}
    _, pairs = publish.read_user_list(r, "777")
    expected = live.fold_in_pairs(rt.active_model(), {"SKU-D": (2.0, 20.0)}, "log1p",
                                  settings.publish_n)
    assert pairs == [(s, pytest.approx(v, abs=1e-6)) for s, v in expected]
    shown = {s for s, _ in publish.filter_pairs(r, pairs, limit=10, customer_id="777")}
    assert shown and not shown & {"SKU-C", "SKU-D"}


def test_fold_in_lists_folds_a_batch_in_as_each_customer_alone(rt, trained):
    """A batch's customers go through the towers together: each list is the customer's own
    fold-in (a customer with only unknown SKUs gets none)."""
    version, _ = trained
    publish_model_version(rt, version)
    loaded = rt.active_model()
    rows = {"1": {"SKU-A": (1.0, 10.0)}, "2": {"SKU-B": (3.0, 30.0), "SKU-C": (1.0, 5.0)},
            "3": {"SKU-NEW": (1.0, 1.0)}, "4": {"SKU-D": (2.0, 20.0), "SKU-NEW": (1.0, 1.0)}}
    lists = live.fold_in_lists(rt, loaded, rows)
    assert lists.keys() == rows.keys() and lists["3"] == []
    for customer, row in rows.items():
        alone = live.fold_in_pairs(loaded, row, rt.settings.value_scheme, rt.settings.publish_n)
        assert dict(lists[customer]) == pytest.approx(dict(alone), abs=1e-6)
        assert [v for _, v in lists[customer]] == pytest.approx([v for _, v in alone], abs=1e-6)
