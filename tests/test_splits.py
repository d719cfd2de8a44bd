"""The three protocols' splits."""

import numpy as np
import pytest

from model.datasets import synthetic_shop
from model.interactions import Purchases
from model.splits import leave_one_out, sample_candidates, time_split


def _log():
    # customer a: x@1, y@5, z@3 -> latest is y; customer b has a single purchase: not tested.
    return Purchases(
        np.array(["a", "a", "a", "b"], dtype=object), np.array(["x", "y", "z", "x"], dtype=object),
        np.ones(4), np.ones(4), np.array([1, 5, 3, 2]),
    )


def test_leave_one_out_holds_out_the_latest():
    inter = _log().to_interactions("binary")
    split = leave_one_out(inter)
    assert split.users.tolist() == [0]
    assert inter.item_ids[split.test_items[0]].tolist() == ["y"]
    train = split.train.matrix.toarray()
    assert train.tolist() == [[1, 0, 1], [1, 0, 0]]


def test_candidates_are_unseen_and_distinct():
    inter = synthetic_shop(n_customers=80, n_skus=200, seed=1).to_interactions("binary")
    split = sample_candidates(leave_one_out(inter), inter.matrix, n_negatives=99, seed=3)
    for u, cand, test in zip(split.users, split.candidates, split.test_items, strict=True):
        assert cand[0] == test[0]
        assert len(set(cand.tolist())) == 100
        assert not set(cand[1:].tolist()) & set(inter.matrix[u].indices.tolist())


def test_time_split_tests_new_skus_of_known_customers_only():
    log = Purchases(
        np.array(["a", "a", "a", "b", "c"], dtype=object),
        np.array(["x", "x", "y", "y", "z"], dtype=object),
        np.ones(5), np.ones(5), np.array([1, 10, 11, 2, 12]),
    )
    split, cutoff = time_split(log, cutoff=10, value="binary")
    assert cutoff == 10
    # a re-buys x (not new) and discovers y (new); c is unknown before the cut; z too.
    assert split.users.tolist() == [0]
    assert split.train.item_ids[split.test_items[0]].tolist() == ["y"]


def test_empty_split_is_an_error():
    with pytest.raises(ValueError, match="no test customers"):
        time_split(_log(), cutoff=100)
