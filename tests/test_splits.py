"""The three protocols' splits."""

import numpy as np
import pytest

from model.datasets import synthetic_shop
from model.datasets.ncf import NCFData
from model.harness import build_split
from model.interactions import Purchases
from model.splits import DAY, default_cutoff, leave_one_out, sample_candidates, time_split


def _log(customers, skus, times, qty=None):
    n = len(customers)
    qty = np.ones(n) if qty is None else np.asarray(qty, dtype=float)
    return Purchases(np.array(customers, dtype=object), np.array(skus, dtype=object), qty,
                     qty * 2.0, np.array(times))


def test_leave_one_out_holds_out_the_latest():
    # customer a: x@1, y@5, z@3 -> latest is y; customer b has a single purchase: not tested.
    inter = _log(["a", "a", "a", "b"], ["x", "y", "z", "x"], [1, 5, 3, 2]).to_interactions(
        "binary")
    split = leave_one_out(inter)
    assert split.users.tolist() == [0]
    assert inter.item_ids[split.test_items[0]].tolist() == ["y"]
    assert split.train.matrix.toarray().tolist() == [[1, 0, 1], [1, 0, 0]]


def test_leave_one_out_uses_the_last_purchase_of_a_repeat():
    # x bought at 1 and again at 9: its latest time (9) beats y@5.
    inter = _log(["a"] * 3, ["x", "y", "x"], [1, 5, 9]).to_interactions("quantity")
    split = leave_one_out(inter)
    assert inter.item_ids[split.test_items[0]].tolist() == ["x"]
    assert split.train.matrix.toarray().tolist() == [[0, 1]]


def test_leave_one_out_ties_are_seeded_coins():
    inter = _log(["a"] * 3, ["x", "y", "z"], [1, 7, 7]).to_interactions("binary")
    picks = {int(leave_one_out(inter, seed=s).test_items[0][0]) for s in range(30)}
    assert picks == {1, 2}  # y or z, never the older x
    again = [int(leave_one_out(inter, seed=4).test_items[0][0]) for _ in range(3)]
    assert len(set(again)) == 1


def test_leave_one_out_keeps_everything_else():
    inter = synthetic_shop(n_customers=60, n_skus=80, seed=3).to_interactions("log1p")
    split = leave_one_out(inter, seed=2)
    assert split.train.matrix.nnz + len(split.users) == inter.matrix.nnz
    for u, items in zip(split.users, split.test_items, strict=True):
        assert split.train.matrix[u, items[0]] == 0 and inter.matrix[u, items[0]] > 0


def test_candidates_are_unseen_and_distinct():
    inter = synthetic_shop(n_customers=80, n_skus=200, seed=1).to_interactions("binary")
    split = sample_candidates(leave_one_out(inter), inter.matrix, n_negatives=99, seed=3)
    assert split.candidates.shape == (len(split.users), 100)
    for u, cand, test in zip(split.users, split.candidates, split.test_items, strict=True):
        assert cand[0] == test[0]
        assert len(set(cand.tolist())) == 100
        assert not set(cand[1:].tolist()) & set(inter.matrix[u].indices.tolist())


def test_time_split_tests_new_skus_of_known_customers_only():
    log = _log(["a", "a", "a", "b", "c", "a"], ["x", "x", "y", "y", "z", "w"],
               [1, 10, 11, 2, 12, 13])
    split, cutoff = time_split(log, cutoff=10, value="binary")
    assert cutoff == 10
    # a re-buys x (not new) and discovers y (new); c is unknown before the cut; z and w too.
    assert split.users.tolist() == [0]
    assert split.train.item_ids[split.test_items[0]].tolist() == ["y"]
    assert split.train.user_ids.tolist() == ["a", "b"]
    assert split.train.item_ids.tolist() == ["x", "y"]


def test_time_split_cancelled_purchase_still_counts_as_bought():
    # Before T=10: a buys x, buys y and cancels it; b buys y and cancels (b's row is empty:
    # unknown customer); c buys w, d buys y (so w and y are known SKUs).
    # After T: a re-buys y (bought before: not new) and buys w (new); b buys x.
    log = _log(["a", "a", "a", "b", "b", "c", "d", "a", "a", "b"],
               ["x", "y", "y", "y", "y", "w", "y", "y", "w", "x"],
               [1, 2, 3, 4, 5, 1, 6, 20, 23, 21],
               qty=[1, 2, -2, 1, -1, 1, 1, 1, 1, 1])
    split, _ = time_split(log, cutoff=10, value="quantity")
    assert split.train.user_ids.tolist() == ["a", "c", "d"]
    assert split.train.item_ids.tolist() == ["w", "x", "y"]
    assert split.users.tolist() == [0]
    assert split.train.item_ids[split.test_items[0]].tolist() == ["w"]
    # y (bought, then cancelled) is not in a's training row, so full ranking ranks it.
    assert split.train.matrix.toarray()[0].tolist() == [0, 1, 0]


def test_time_split_default_cutoff_and_test_days():
    log = synthetic_shop(n_customers=100, n_skus=60, days=120, seed=4)
    t0, t1 = int(log.ordered_at.min()), int(log.ordered_at.max())
    assert default_cutoff(log) == t1 - (t1 - t0) // 6
    assert default_cutoff(log, test_days=10) == t1 - 10 * DAY
    split, cutoff = time_split(log, test_days=10)
    assert cutoff == t1 - 10 * DAY
    assert split.train.matrix.nnz > 0 and len(split.users) > 0


def test_time_split_needs_both_sides():
    log = _log(["a", "a"], ["x", "y"], [1, 5])
    with pytest.raises(ValueError, match="no purchases on one side"):
        time_split(log, cutoff=100)


def test_ncf_split_uses_given_items_and_negatives_as_given():
    train = _log([0, 0, 1, 1], [0, 1, 1, 2], [0, 1, 2, 3])
    train.customer_id = train.customer_id.astype(np.int64)
    train.sku = train.sku.astype(np.int64)
    # user 1's given negatives include item 2, which it has in train: kept as given.
    data = NCFData(train, np.array([0, 1]), np.array([3, 4]), np.array([[2, 4], [2, 0]]))
    loo = build_split(data, "loo")
    assert loo.candidates.tolist() == [[3, 2, 4], [4, 2, 0]]
    assert loo.train.matrix.shape == (2, 5)
    full = build_split(data, "full")
    assert full.candidates is None and [t.tolist() for t in full.test_items] == [[3], [4]]
    with pytest.raises(ValueError, match="loo or full"):
        build_split(data, "time")
