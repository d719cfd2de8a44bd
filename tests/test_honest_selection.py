"""Honest selection: validation splits carved from training alone, early stopping on them, and
no model gaining from a SKU's absence from training."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from model.datasets import synthetic_shop
from model.evaluation import evaluate
from model.harness import (
    _evaluate_model,
    build_splits,
    default_factories,
    format_table,
    run_evaluation,
    unseen_shares,
    user_groups,
)
from model.recommender import DMF
from model.splits import Split
from tests.test_dmf import two_groups

TINY = dict(user_layers=(32, 16), item_layers=(32, 16), device="cpu", members=1,
            loss="holdout", lr=1e-2, lr_schedule="constant", batch_customers=32,
            shared_negatives=64, epochs=6, precision="fp32")  # fp32: the same figures on
# every CPU, which the seed-specific expectations below need


def _pairs(m: sp.spmatrix) -> set[tuple[int, int]]:
    c = sp.coo_matrix(m)
    return set(zip(c.row.tolist(), c.col.tolist(), strict=True))


def _test_pairs(split: Split) -> set[tuple[int, int]]:
    return {(int(u), int(i)) for u, items in zip(split.users, split.test_items, strict=True)
            for i in items}


@pytest.mark.parametrize("protocol", ["loo", "full", "time"])
def test_validation_is_carved_from_the_training_part_only(protocol):
    shop = synthetic_shop(n_customers=200, n_skus=150, seed=4)
    split, val = build_splits(shop, protocol)
    train, test = _pairs(split.train.matrix), _test_pairs(split)
    assert val.train.matrix.shape == split.train.matrix.shape  # the same index
    assert _pairs(val.train.matrix) <= train
    assert _test_pairs(val) <= train  # validation targets are training purchases
    assert not (_pairs(val.train.matrix) | _test_pairs(val)) & test
    if protocol == "loo":  # sampled validation candidates: SKUs never bought in training
        for u, cand in zip(val.users, val.candidates[:, 1:], strict=True):
            assert not set(cand.tolist()) & set(split.train.matrix[u].indices.tolist())


def test_no_test_interaction_reaches_selection_or_stopping():
    """Selection and early stopping run identically whatever the test split holds."""
    shop = synthetic_shop(n_customers=200, n_skus=80, seed=5)
    split, val = build_splits(shop, "full")
    rng = np.random.default_rng(0)
    n_items = split.train.shape[1]
    scrambled = Split(split.train, split.users,
                      [rng.integers(0, n_items, size=len(t)) for t in split.test_items])
    makers = default_factories()
    dmf = lambda seed, **p: DMF(seed=seed, **TINY, **p)  # noqa: E731
    for name, factory in (("itemknn", makers["itemknn"]), ("dmf", dmf)):
        a = _evaluate_model(name, factory, split, val, user_groups(split), (10,),
                            ("Recall", "NDCG", "HR"), 0, True, 1, False)
        b = _evaluate_model(name, factory, scrambled, val, user_groups(scrambled), (10,),
                            ("Recall", "NDCG", "HR"), 0, True, 1, False)
        assert a.get("params") == b.get("params")
        assert a["val_NDCG@10"] == b["val_NDCG@10"]
        assert a.get("epochs") == b.get("epochs")
        assert a["Recall@10"] != b["Recall@10"]  # the test figures did change


def test_early_stopping_keeps_the_best_validation_epoch():
    shop = synthetic_shop(n_customers=300, n_skus=60, seed=6)
    _, val = build_splits(shop, "full")
    model = DMF(**{**TINY, "epochs": 12, "patience": 2}).fit(val.train.matrix, progress=False,
                                                            validation=val)
    scores = [h["val_ndcg"] for h in model.history]
    kept = evaluate(model, val, 10, metrics=("NDCG",))["NDCG@10"]
    assert kept == pytest.approx(max(scores))
    best = int(np.argmax(scores))
    assert len(scores) == 12 or len(scores) == best + 1 + 2  # stopped 2 epochs after the best


def test_later_members_train_for_the_epoch_count_the_first_one_kept():
    shop = synthetic_shop(n_customers=300, n_skus=60, seed=6)
    _, val = build_splits(shop, "full")
    model = DMF(**{**TINY, "members": 3, "epochs": 10, "patience": 2,
                   "members_follow_first": True}).fit(val.train.matrix, progress=False,
                                                      validation=val)
    first = [h for h in model.history if h["member"] == 1]
    kept = int(np.argmax([h["val_ndcg"] for h in first])) + 1
    for member in (2, 3):
        rows = [h for h in model.history if h["member"] == member]
        assert [h["epoch"] for h in rows] == list(range(1, kept + 1))
        assert not any("val_ndcg" in h for h in rows)  # no validation pass, no patience
    # Each member keeps its own weights: the followers are trained, not copies of the first.
    a, b = (net.user_tower.first.weight for net in model.nets[:2])
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())


def test_members_stop_once_one_brings_no_validation_gain(tmp_path):
    shop = synthetic_shop(n_customers=300, n_skus=60, seed=6)
    _, val = build_splits(shop, "full")
    model = DMF(**{**TINY, "members": 6, "epochs": 4, "members_stop_early": True}).fit(
        val.train.matrix, progress=False, validation=val)
    best = {}
    for h in model.history:
        best[h["member"]] = max(best.get(h["member"], -1.0), h["val_ndcg"])
    kept = len(model.nets)
    assert model.config.members == kept
    # Every kept member raised the ensemble's best figure; the first one that did not (if
    # any) was trained, dropped, and ended the ensemble.
    assert all(best[m] > max(best[k] for k in range(1, m)) for m in range(2, kept + 1))
    assert kept < 6  # this seed's 4th member brings nothing
    assert best[kept + 1] <= max(best[k] for k in range(1, kept + 1))
    assert all(h.get("dropped") for h in model.history if h["member"] == kept + 1)
    assert max(best) == kept + 1  # no member trained after it
    assert evaluate(model, val, 10, metrics=("NDCG",))["NDCG@10"] == pytest.approx(
        max(best[k] for k in range(1, kept + 1)))
    loaded = DMF.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.score(np.arange(5)), model.score(np.arange(5)),
                               rtol=1e-5, atol=1e-6)


def test_a_fixed_configuration_trains_on_the_whole_training_part_unstopped():
    """`benchmarks.quality --dmf dmf-before=before`: the old defaults, as they ran then."""
    from benchmarks.quality import _variant

    shop = synthetic_shop(n_customers=200, n_skus=80, seed=5)
    split, val = build_splits(shop, "full")
    fixed = _variant("dmf-fixed", {**TINY, "epochs": 3, "validation": False})
    row = _evaluate_model("dmf-fixed", fixed, split, val, user_groups(split), (10,),
                          ("Recall", "NDCG", "HR"), 0, True, 1, False)
    assert row["model"] == "dmf-fixed" and "val_NDCG@10" not in row
    assert row["epochs"] == [3]  # every epoch, nothing stopped
    model = fixed(0)
    assert model.sees_validation is False and model.config.epochs == 3


def test_a_diverging_run_stops_after_patience():
    shop = synthetic_shop(n_customers=300, n_skus=60, seed=6)
    _, val = build_splits(shop, "full")
    model = DMF(**{**TINY, "epochs": 30, "patience": 1, "lr": 5.0}).fit(
        val.train.matrix, progress=False, validation=val)
    assert len(model.history) < 30


def _grown_scores(model: DMF) -> tuple[np.ndarray, int]:
    model.add_items(1)
    return model.score(np.arange(model.n_users)), model.n_items - 1


def test_a_new_or_emptied_sku_ranks_last_not_first():
    x = two_groups()
    model = DMF(**TINY).fit(x, progress=False)
    scores, new = _grown_scores(model)
    assert (scores[:, new] <= np.median(scores, axis=1)).all()
    assert (scores[:, new] < scores[:, :new].min(axis=1)).all()
    emptied = model.matrix.tolil()
    emptied[:, 3] = 0  # its purchases left the window
    model.set_matrix(sp.csr_matrix(emptied))
    scores = model.score(np.arange(model.n_users))
    assert (scores[:, 3] <= np.median(scores, axis=1)).all()
    top = np.concatenate([model.recommend(u, 5)[0] for u in range(model.n_users)])
    assert 3 not in top and new not in top


def test_held_out_skus_made_unseen_score_no_higher_than_the_median_seen_sku():
    shop = synthetic_shop(n_customers=200, n_skus=80, seed=7)
    split, _ = build_splits(shop, "full")
    held = np.unique(np.concatenate(split.test_items))[:10]
    train = split.train.matrix.tolil()
    train[:, held] = 0
    train = sp.csr_matrix(train)
    train.eliminate_zeros()
    model = DMF(**TINY).fit(train, progress=False)
    scores = model.score(split.users)
    seen = np.setdiff1d(np.flatnonzero(np.diff(train.tocsc().indptr) > 0), held)
    assert (scores[:, held].max(axis=1) <= np.median(scores[:, seen], axis=1)).all()


def test_a_customer_without_purchases_gets_the_best_sellers():
    x = two_groups()
    model = DMF(**TINY).fit(x, progress=False)
    empty = sp.csr_matrix((1, x.shape[1]), dtype=np.float32)
    _, items, _ = model.fold_in(empty, 5)
    buyers = np.diff(sp.csc_matrix(x).indptr)
    assert sorted(buyers[items].tolist(), reverse=True) == sorted(buyers, reverse=True)[:5]


def test_unseen_shares_and_warm_headline():
    shop = synthetic_shop(n_customers=200, n_skus=150, seed=8)
    split, _ = build_splits(shop, "loo")
    some = np.unique(np.concatenate(split.test_items))[:5]
    train = split.train.matrix.tolil()
    train[:, some] = 0
    split.train.matrix = sp.csr_matrix(train)
    split.train.matrix.eliminate_zeros()
    groups = user_groups(split)
    assert set(groups) == {"", "all:", "unseen:"}
    unseen_users = {int(split.users[i]) for i in groups["unseen:"]}
    assert unseen_users == {int(u) for u, t in zip(split.users, split.test_items, strict=True)
                            if t[0] in some}
    shares = unseen_shares(split)
    assert shares["unseen_held_out"] == pytest.approx(len(groups["unseen:"]) / len(split.users),
                                                      abs=1e-4)
    rows = run_evaluation(split, "loo", ["pop"], progress=False)
    assert rows[0]["unseen:HR@10"] == 0.0  # unseen SKUs rank last for every model
    assert rows[0]["HR@10"] > 0


def test_a_model_too_big_for_memory_is_skipped_and_rows_arrive_one_by_one():
    shop = synthetic_shop(n_customers=150, n_skus=100, seed=9)
    seen = []
    rows = run_evaluation(shop, "full", ["pop", "ease", "itemknn"], progress=False,
                          memory_bytes=1000, on_row=lambda r: seen.append(
                              json.loads(json.dumps(r))))
    assert [r["model"] for r in seen] == ["ItemPop", "ease", "ItemKNN"]
    assert "needs about" in rows[1]["skipped"] and "GiB available" in rows[1]["skipped"]
    assert "Recall@10" in rows[2] and "params" in rows[2]  # itemknn was tuned on validation


def test_the_table_shows_rows_with_different_figures():
    rows = [{"model": "A", "NDCG@10": 0.1, "fit_seconds": 1.0},
            {"model": "B", "NDCG@10": 0.2, "val_NDCG@10": 0.3, "±NDCG@10": 0.01,
             "fit_seconds": 2.0, "params": {"l2": 1.0}},
            {"model": "C", "skipped": "needs about 9 GiB"}]
    table = format_table(rows)
    assert "val_NDCG@10" in table and "0.2000±0.0100*" in table and "skipped: needs" in table
    assert table.splitlines()[2].split()[-1] == "-"  # A has no validation figure
