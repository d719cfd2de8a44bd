"""Nightly retrain and fine-tuning on the train queue's code path, with real (tiny) data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model.interactions import Interactions
from storage.models import ModelVersion
from worker import live, publish, training


@pytest.fixture
def shop(rt, record, make_event, settings):
    """Eight customers with a few orders each, ingested as the live loop does."""
    rt.settings = settings.model_copy(update={"train_epochs": 2, "fine_tune_epochs": 1})
    rng = np.random.default_rng(1)
    skus = [f"SKU-{c}" for c in "ABCDEFG"]
    for c in range(8):
        lines = {s: 1 for s in rng.choice(skus, size=3, replace=False)}
        live.process_event(rt, record(make_event(f"o{c}", entity_id=5000 + c,
                                                 customer_id=200 + c, lines=lines)))
    return rt


def _statuses(rt) -> dict[str, str]:
    with rt.reading() as session:
        return dict(session.query(ModelVersion.version, ModelVersion.status).all())


def test_nightly_retrain_trains_registers_and_publishes(shop, r):
    summary = training.nightly_retrain(shop)
    version = summary["version"]
    assert publish.active_version(r) == version
    assert summary["n_users"] == 8 and summary["n_items"] == 7
    assert _statuses(shop) == {version: "active"}
    for c in range(200, 208):
        _, pairs = publish.read_user_list(r, str(c))
        assert pairs and not {s for s, _ in pairs} & r.smembers(publish.bought_key(str(c)))


def test_the_nightly_model_has_the_configured_members(shop):
    shop.settings = shop.settings.model_copy(update={"train_members": 2, "train_patience": 7,
                                                     "train_precision": "fp32"})
    training.nightly_retrain(shop)
    model = shop.active_model().model
    # At most the configured networks: the second one is trained, and kept only if it
    # raised the ensemble's validation figure (members_stop_early).
    assert {h["member"] for h in model.history} == {1, 2}
    assert model.config.members == len(model.nets) <= 2
    assert model.config.patience == 7  # DMFREC_TRAIN_PATIENCE
    assert model.config.epochs == 2  # DMFREC_TRAIN_EPOCHS: each member's
    assert model.config.precision == "fp32"  # DMFREC_TRAIN_PRECISION


def test_the_nightly_retrain_warm_starts_from_the_active_model(shop):
    first = training.nightly_retrain(shop)["version"]
    old = shop.active_model()
    second = training.nightly_retrain(shop)["version"]
    new = shop.active_model()
    assert new.version == second != first
    assert new.model.metadata["warm_start_from"] == first
    assert old.model.metadata["warm_start_from"] is None  # nothing to start from
    shop.settings = shop.settings.model_copy(update={"train_warm_start": False})
    training.nightly_retrain(shop)
    assert shop.active_model().model.metadata["warm_start_from"] is None



def test_fine_tune_grows_for_newcomers(shop, r, record, make_event):
    first = training.nightly_retrain(shop)["version"]
    # A new customer buys a SKU nobody bought before.
    live.process_event(shop, record(make_event("new", entity_id=9000, customer_id=999,
                                               lines={"SKU-NEW": 1, "SKU-A": 1})))
    summary = training.fine_tune(shop)
    second = summary["version"]
    assert second != first and publish.active_version(r) == second
    assert summary["n_users"] == 9 and summary["n_items"] == 8
    assert _statuses(shop) == {first: "retired", second: "active"}
    loaded = shop.active_model()
    assert loaded.version == second
    assert loaded.skus[-1] == "SKU-NEW" and "999" in loaded.customer_index
    # The old customers keep their positions: the index only grows.
    assert list(loaded.customer_index)[:8] == [str(c) for c in range(200, 208)]
    _, pairs = publish.read_user_list(r, "999")
    assert pairs and "SKU-NEW" not in {s for s, _ in pairs}


def test_no_data_trains_nothing(rt, r):
    assert training.nightly_retrain(rt) == {"status": "no data"}
    assert training.fine_tune(rt) == {"status": "no data"}
    assert publish.active_version(r) is None


def test_aligned_matrix_keeps_the_model_order_and_appends_newcomers():
    data = Interactions(sp.csr_matrix(np.array([[1, 0, 2], [0, 3, 0]], dtype=np.float32)),
                        np.array(["c2", "c9"], dtype=object),
                        np.array(["s1", "s3", "sNEW"], dtype=object))
    matrix, customers, skus = training.aligned_matrix(data, ["c1", "c2"], ["s1", "s2", "s3"])
    assert customers == ["c1", "c2", "c9"]
    assert skus == ["s1", "s2", "s3", "sNEW"]
    assert matrix.toarray().tolist() == [[0, 0, 0, 0], [1, 0, 0, 2], [0, 0, 3, 0]]
