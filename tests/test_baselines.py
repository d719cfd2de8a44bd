"""Baselines on hand-computed toys, their determinism, and the harness that runs them."""

import numpy as np
import pytest
import scipy.sparse as sp

from model.baselines import ALS, BPR, EASE, ItemKNN, ItemPop
from model.datasets import load, synthetic_shop
from model.harness import MODELS, build_split, default_factories, format_table, run_evaluation


def _csr(rows):
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


def test_itempop_counts_distinct_buyers():
    pop = ItemPop().fit(_csr([[1, 0, 5], [0, 0, 1], [3, 0, 0]]))
    assert pop.score(np.array([0, 2])).tolist() == [[2, 0, 2], [2, 0, 2]]


def test_itemknn_cosine_top_k_by_hand():
    # Columns: c0 = (1,1,1), c1 = (1,1,0), c2 = (0,0,1).
    # cos(0,1) = 2/sqrt(6), cos(0,2) = 1/sqrt(3), cos(1,2) = 0. With one neighbour per SKU:
    # SKU 0 keeps 1, SKU 1 keeps 0, SKU 2 keeps 0.
    knn = ItemKNN(neighbours=1).fit(_csr([[1, 1, 0], [1, 1, 0], [1, 0, 1]]))
    s = knn.similarity.toarray()
    assert s == pytest.approx(np.array([[0, 2 / np.sqrt(6), 1 / np.sqrt(3)],
                                        [2 / np.sqrt(6), 0, 0], [0, 0, 0]]), abs=1e-6)
    scores = knn.score(np.array([2]))
    assert scores.dtype == np.float32
    assert scores[0] == pytest.approx([0, 2 / np.sqrt(6), 1 / np.sqrt(3)], abs=1e-6)


def test_ease_closed_form_by_hand():
    # X'X = [[2,1],[1,2]]; with l2 = 1, P = inv([[3,1],[1,3]]) = [[3,-1],[-1,3]] / 8,
    # B_ij = -P_ij / P_jj = 1/3 off the diagonal, 0 on it.
    ease = EASE(l2=1.0).fit(_csr([[1, 1], [1, 0], [0, 1]]))
    assert ease.weights == pytest.approx(np.array([[0, 1 / 3], [1 / 3, 0]]), abs=1e-6)
    assert ease.score(np.array([1])) == pytest.approx(np.array([[0, 1 / 3]]), abs=1e-6)
    with pytest.raises(ValueError):
        EASE(l2=0)


def test_ease_cholesky_inverse_matches_a_general_inverse():
    from model.baselines.ease import spd_inverse

    rng = np.random.default_rng(0)
    x = rng.random((40, 25))
    a = x.T @ x + 3.0 * np.eye(25)
    assert spd_inverse(a.copy(), block=7) == pytest.approx(np.linalg.inv(a), abs=1e-10)


@pytest.fixture(scope="module")
def shop_loo():
    return build_split(synthetic_shop(n_customers=300, n_skus=120, seed=5), "loo", seed=0)


@pytest.mark.parametrize("make", [lambda s: ALS(seed=s, iterations=5),
                                  lambda s: BPR(seed=s, iterations=20)])
def test_implicit_models_are_seeded(make, shop_loo):
    x = shop_loo.train.matrix
    users = np.arange(10)
    a, b = make(3).fit(x).score(users), make(3).fit(x).score(users)
    assert a.dtype == np.float32 and a.shape == (10, x.shape[1])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, make(4).fit(x).score(users))


def test_every_baseline_beats_chance_and_personal_ones_beat_pop(shop_loo):
    rows = {r["model"]: r for r in run_evaluation(
        shop_loo, "loo", ["pop", "itemknn", "ease", "als", "bpr"], progress=False)}
    assert set(rows) == {"ItemPop", "ItemKNN", "EASE", "ALS", "BPR"}
    for r in rows.values():
        # A prebuilt split brings no validation split: defaults, no tuning figures.
        assert set(r) == {"model", "HR@10", "NDCG@10", "fit_seconds", "unseen_held_out",
                          "unseen_negatives"}
        assert r["HR@10"] > 0.15  # chance is 10/100
    for name in ("ItemKNN", "EASE", "ALS"):
        assert rows[name]["HR@10"] > rows["ItemPop"]["HR@10"]


class _Dummy:
    """A model for harness tests: scores = the SKU index (prefers high columns)."""

    name = "Dummy"

    def fit(self, matrix):
        self.n_items = matrix.shape[1]
        self.fitted_on = matrix
        return self

    def score(self, users):
        return np.tile(np.arange(self.n_items, dtype=np.float32), (len(users), 1))


def test_run_evaluation_rows_with_a_dummy_model():
    shop = synthetic_shop(n_customers=80, n_skus=40, seed=2)
    made = []

    def factory(seed):
        made.append(_Dummy())
        return made[-1]

    rows = run_evaluation(shop, "full", ["dummy"], k=(10, 20), progress=False,
                          factories={"dummy": factory})
    assert len(rows) == 1 and rows[0]["model"] == "Dummy"
    assert set(rows[0]) == {"model", "Recall@10", "NDCG@10", "HR@10", "Recall@20", "NDCG@20",
                            "HR@20", "fit_seconds", "unseen_held_out"}
    assert rows[0]["HR@20"] >= rows[0]["HR@10"]
    # The model was fitted on the train split (held-out entries removed), as float32 CSR.
    assert sp.issparse(made[0].fitted_on) and made[0].fitted_on.dtype == np.float32
    assert made[0].fitted_on.nnz < shop.to_interactions().nnz


def test_run_evaluation_rejects_unknown_models_and_protocols():
    shop = synthetic_shop(n_customers=30, n_skus=20, seed=1)
    with pytest.raises(ValueError, match="unknown model"):
        run_evaluation(shop, "full", ["pop", "magic"], progress=False)
    with pytest.raises(ValueError, match="unknown protocol"):
        run_evaluation(shop, "later", ["pop"], progress=False)
    assert set(default_factories()) == set(MODELS)


def test_time_protocol_and_table():
    shop = synthetic_shop(n_customers=150, n_skus=60, seed=3)
    rows = run_evaluation(shop, "time", ["pop", "itemknn"], test_days=30, progress=False)
    table = format_table(rows)
    assert "ItemPop" in table and "ItemKNN" in table and "Recall@10" in table
    assert "*" in table and "fit_seconds" in table
    assert format_table([]) == "(no rows)"


@pytest.mark.slow
def test_ml100k_loo_figures(shared_data):
    """The bar on real data: EASE > ItemKNN > ItemPop, in the ranges measured for the team."""
    data = load(shared_data / "ml-100k", "movielens")
    rows = {r["model"]: r for r in run_evaluation(data, "loo", ["pop", "itemknn", "ease"],
                                                  progress=False)}
    assert 0.35 < rows["ItemPop"]["HR@10"] < 0.43
    assert 0.55 < rows["ItemKNN"]["HR@10"] < 0.65
    assert 0.62 < rows["EASE"]["HR@10"] < 0.70
    assert rows["EASE"]["NDCG@10"] > rows["ItemKNN"]["NDCG@10"] > rows["ItemPop"]["NDCG@10"]
