"""DMF: the network, its loss, determinism, learning a planted structure, save/load."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from model.bags import gather_bags
from model.losses import MU, cross_entropy, targets
from model.recommender import DMF, DMFConfig

FAST = dict(epochs=8, batch_size=512, lr=5e-3, user_layers=(32, 16), item_layers=(32, 16),
            device="cpu", neg_ratio=3)


def two_groups(n_users=60, n_items=40, seed=0) -> sp.csr_matrix:
    """Group A customers buy from items 0..19, group B from 20..39."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u in range(n_users):
        base = 0 if u < n_users // 2 else n_items // 2
        for j in rng.choice(n_items // 2, size=6, replace=False):
            rows.append(u)
            cols.append(base + j)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))


def test_gather_bags_is_the_sparse_row_product():
    m = sp.random(7, 11, density=0.3, random_state=1, format="csr", dtype=np.float32)
    w = torch.randn(11, 5)
    idx, off, wt = gather_bags(m, np.array([4, 0, 6]))
    bag = torch.nn.functional.embedding_bag(idx, w, off, mode="sum", per_sample_weights=wt)
    dense = torch.from_numpy(m[[4, 0, 6]].toarray()) @ w
    torch.testing.assert_close(bag, dense, rtol=1e-5, atol=1e-5)


def test_first_layer_is_an_embedding_bag_not_a_dense_row():
    model = DMF(**FAST).fit(two_groups(), progress=False)
    assert isinstance(model.net.user_tower.first, torch.nn.EmbeddingBag)
    assert model.net.user_tower.first.mode == "sum"
    assert model.net.item_tower.first.num_embeddings == 60


def test_large_catalog_trains_without_dense_rows():
    # 2M SKUs: a dense [batch, n_items] float buffer for 512 rows would be 4 GB.
    n_items = 2_000_000
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(200), 5)
    cols = rng.integers(0, n_items, size=len(rows))
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(200, n_items))
    model = DMF(epochs=1, batch_size=512, user_layers=(8, 4), item_layers=(8, 4), device="cpu")
    model.fit(m, progress=False)
    assert np.isfinite(model.history[0]["loss"])


def test_nce_targets_use_the_global_max_and_bce_is_binary():
    values = torch.tensor([5.0, 2.0, 0.0])
    torch.testing.assert_close(targets(values, "nce", 5.0), torch.tensor([1.0, 0.4, 0.0]))
    assert targets(values, "bce", 5.0).tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        targets(values, "mse", 5.0)


def test_cross_entropy_by_hand_and_clip():
    pred = torch.tensor([0.8, 0.0])
    target = torch.tensor([0.4, 0.0])
    expected = -(0.4 * np.log(0.8) + 0.6 * np.log(0.2)) / 2 - np.log(1 - MU) / 2
    assert float(cross_entropy(pred, target)) == pytest.approx(expected, rel=1e-5)
    # A zero cosine on a positive is clipped at mu, not log(0).
    assert np.isfinite(float(cross_entropy(torch.tensor([0.0]), torch.tensor([1.0]))))


def test_same_seed_same_model_on_cpu():
    m = two_groups()
    a = DMF(**FAST, seed=3).fit(m, progress=False)
    b = DMF(**FAST, seed=3).fit(m, progress=False)
    c = DMF(**FAST, seed=4).fit(m, progress=False)
    users = np.arange(10)
    np.testing.assert_array_equal(a.score(users), b.score(users))
    assert not np.array_equal(a.score(users), c.score(users))


def test_learns_the_planted_taste_groups():
    m = two_groups()
    model = DMF(**{**FAST, "epochs": 25}).fit(m, progress=False)
    assert model.history[-1]["loss"] < model.history[0]["loss"]
    in_group = 0
    for u in range(60):
        items, _ = model.recommend(u, n=5)
        lo = 0 if u < 30 else 20
        in_group += int(np.sum((items >= lo) & (items < lo + 20)))
    assert in_group / (60 * 5) > 0.9


def test_recommend_excludes_seen_and_the_extra_list():
    m = two_groups()
    model = DMF(**FAST).fit(m, progress=False)
    seen = set(m[0].indices.tolist())
    items, scores = model.recommend(0, n=10, exclude=[int(i) for i in range(5)])
    assert not seen & set(items.tolist())
    assert not set(range(5)) & set(items.tolist())
    assert np.all(np.diff(scores) <= 0)
    with_seen, _ = model.recommend(0, n=40, exclude_seen=False)
    assert seen <= set(with_seen.tolist())


def test_recommend_all_equals_per_customer_recommend():
    m = two_groups()
    model = DMF(**FAST).fit(m, progress=False)
    for users, items, scores in model.recommend_all(n=5, block_size=16):
        for row, u in enumerate(users):
            one_items, one_scores = model.recommend(int(u), n=5)
            np.testing.assert_allclose(scores[row], one_scores, rtol=1e-5, atol=1e-6)
            assert set(items[row].tolist()) == set(one_items.tolist()) or np.allclose(
                np.sort(scores[row]), np.sort(one_scores))


def test_similar_items_come_from_the_same_group():
    model = DMF(**{**FAST, "epochs": 25}).fit(two_groups(), progress=False)
    items, _ = model.similar_items(3, n=5)
    assert 3 not in items.tolist()
    assert np.mean(items < 20) >= 0.8


def test_save_and_load_round_trip(tmp_path):
    model = DMF(**FAST).fit(two_groups(), progress=False)
    model.save(tmp_path / "m", metadata={"skus": [f"s{j}" for j in range(40)]})
    loaded = DMF.load(tmp_path / "m", device="cpu")
    np.testing.assert_array_equal(model.score(np.arange(60)), loaded.score(np.arange(60)))
    assert loaded.version == model.version
    assert loaded.metadata["skus"][3] == "s3"
    assert loaded.config.user_layers == (32, 16)


def test_load_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no meta\.json"):
        DMF.load(tmp_path)


def test_config_validation():
    with pytest.raises(ValueError, match="loss"):
        DMFConfig(loss="mse")
    with pytest.raises(ValueError, match="last widths differ"):
        DMF(user_layers=(8, 4), item_layers=(8, 2), device="cpu").fit(two_groups(),
                                                                     progress=False)
    with pytest.raises(ValueError, match="empty"):
        DMF(device="cpu").fit(sp.csr_matrix((3, 3)), progress=False)
