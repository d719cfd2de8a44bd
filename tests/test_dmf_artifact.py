"""Save/load: a directory with weights.pt, matrix.npz and meta.json that scores identically."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from model.recommender import DMF
from tests.test_dmf import FAST, fresh, small_model, two_groups


@pytest.fixture
def trained() -> DMF:
    return small_model()


def test_round_trip_scores_identically(trained, tmp_path):
    skus = [f"sku-{j}" for j in range(40)]
    trained.save(tmp_path / "m", metadata={"skus": skus, "window": ["2024-01-01", "2024-03-31"]})
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"weights.pt", "matrix.npz",
                                                             "meta.json"}
    loaded = DMF.load(tmp_path / "m", device="cpu")
    np.testing.assert_array_equal(trained.score(np.arange(60)), loaded.score(np.arange(60)))
    np.testing.assert_array_equal(trained.recommend(4)[0], loaded.recommend(4)[0])
    assert (loaded.matrix != trained.matrix).nnz == 0
    assert loaded.version == trained.version
    assert loaded.config == trained.config.__class__(**{**vars(trained.config), "device": "cpu"})
    assert loaded.metadata["skus"][3] == "sku-3"
    assert loaded.history == trained.history  # kept in meta.json


def test_files_are_plain_tensors_a_sparse_matrix_and_json(trained, tmp_path):
    trained.save(tmp_path / "m", metadata={"metrics": {"HR@10": 0.7}})
    state = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)
    assert len(trained.nets) == trained.config.members == 2
    assert set(state) == {f"member{k}.{key}" for k, net in enumerate(trained.nets)
                          for key in net.state_dict()}
    matrix = sp.load_npz(tmp_path / "m" / "matrix.npz")
    assert matrix.shape == (60, 40)
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert (meta["n_users"], meta["n_items"]) == (60, 40)
    assert meta["config"]["user_layers"] == [32, 16]
    assert meta["version"] == trained.version and meta["metrics"] == {"HR@10": 0.7}


def test_a_grown_model_round_trips(trained, tmp_path):
    model = fresh(trained)
    model.add_items(2)
    model.save(tmp_path / "g")
    loaded = DMF.load(tmp_path / "g", device="cpu")
    assert loaded.n_items == 42
    np.testing.assert_array_equal(model.score(np.arange(5)), loaded.score(np.arange(5)))


def test_one_member_keeps_the_plain_network_keys_and_old_artifacts_load(tmp_path):
    one = DMF(**{**FAST, "members": 1, "epochs": 2}).fit(two_groups(), progress=False)
    one.save(tmp_path / "one")
    state = torch.load(tmp_path / "one" / "weights.pt", weights_only=True)
    assert set(state) == set(one.net.state_dict())
    # An artifact written before members existed has no such key in its config.
    meta_path = tmp_path / "one" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["members"]
    meta_path.write_text(json.dumps(meta))
    loaded = DMF.load(tmp_path / "one", device="cpu")
    assert loaded.config.members == 1
    np.testing.assert_array_equal(one.score(np.arange(60)), loaded.score(np.arange(60)))


def test_load_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no meta\.json"):
        DMF.load(tmp_path)
