"""Metric code on tiny cases computed by hand, and chance level for a constant scorer."""

import numpy as np
import pytest

from model.evaluation import evaluate
from model.interactions import Interactions
from model.metrics import hit_rate, ndcg, rank_of, recall, summarize
from model.splits import Split


def test_rank_counts_strictly_higher_scores():
    rng = np.random.default_rng(0)
    scores = np.array([0.9, 0.1, 0.5, 0.7])
    assert rank_of(scores, np.array([2]), rng).tolist() == [2]  # 0.9 and 0.7 ahead
    assert rank_of(scores, np.array([0, 1]), rng).tolist() == [0, 3]


def test_excluded_and_nan_candidates_never_rank_ahead():
    rng = np.random.default_rng(0)
    scores = np.array([-np.inf, 0.2, np.nan, 0.1])
    assert rank_of(scores, np.array([3]), rng).tolist() == [1]
    # A NaN target is the worst score: it cannot win by being incomparable.
    assert rank_of(np.array([np.nan, 0.1, 0.2]), np.array([0]), rng).tolist() == [2]


def test_tie_is_uniform_among_the_tied_and_never_a_win():
    # Target 0 ties with item 1 at 0.5; item 2 (0.9) is strictly ahead. Rank = 1 + {0, 1}.
    rng = np.random.default_rng(7)
    scores = np.array([0.5, 0.5, 0.9, 0.1])
    ranks = np.array([rank_of(scores, np.array([0]), rng)[0] for _ in range(2000)])
    assert set(ranks.tolist()) == {1, 2}
    assert ranks.mean() == pytest.approx(1.5, abs=0.05)


def test_tie_break_is_seeded():
    a = [rank_of(np.zeros(50), np.array([3]), np.random.default_rng(5))[0] for _ in range(3)]
    assert len(set(a)) == 1


def test_ties_are_a_fair_coin_not_a_win():
    # A constant scorer: the held-out item is tied with 99 others. Counting only strictly
    # greater scores would give HR@10 = 1; a fair tie-break gives 10/100.
    rng = np.random.default_rng(42)
    ranks = [rank_of(np.zeros(100), np.array([0]), rng) for _ in range(4000)]
    assert hit_rate(ranks, 10) == pytest.approx(0.10, abs=0.015)
    assert min(int(r[0]) for r in ranks) == 0 and max(int(r[0]) for r in ranks) == 99


class _Constant:
    name = "Constant"

    def __init__(self, n_items):
        self.n_items = n_items

    def score(self, users):
        return np.ones((len(users), self.n_items), dtype=np.float32)


def test_constant_scorer_gets_chance_level_in_evaluate():
    # 3000 users, 100 candidates each: HR@10 = 0.1 and NDCG@10 = mean over ranks 0..9 of
    # 1/log2(r+2), divided by 100, i.e. 0.0453.
    n_users, n_items = 3000, 120
    train = Interactions(np.zeros((n_users, n_items)), np.arange(n_users), np.arange(n_items))
    cand = np.tile(np.arange(100), (n_users, 1))
    split = Split(train, np.arange(n_users), [np.array([0])] * n_users, cand)
    out = evaluate(_Constant(n_items), split, 10, metrics=("HR", "NDCG"), seed=1)
    expected_ndcg = np.sum(1 / np.log2(np.arange(10) + 2)) / 100
    assert out["HR@10"] == pytest.approx(0.10, abs=0.015)
    assert out["NDCG@10"] == pytest.approx(expected_ndcg, abs=0.008)


def test_full_ranking_excludes_training_items():
    # 4 items; item 0 and 1 in train score highest but are excluded: test item 2 is first.
    train = Interactions(np.array([[1.0, 1.0, 0, 0], [0, 0, 1.0, 1.0]]), np.arange(2),
                         np.arange(4))

    class Scorer:
        name = "S"

        def score(self, users):
            return np.array([[9.0, 8.0, 5.0, 1.0]] * len(users), dtype=np.float32)

    split = Split(train, np.array([0]), [np.array([2])])
    assert evaluate(Scorer(), split, 1, metrics=("HR",)) == {"HR@1": 1.0}


def test_skus_nobody_bought_in_training_rank_last_for_every_model():
    # Item 3 has no training buyer: its top score counts for nothing, the test item 2 is first;
    # held out itself, it ranks below every seen candidate.
    train = Interactions(np.array([[1.0, 0, 0, 0], [0, 1.0, 1.0, 0]]), np.arange(2),
                         np.arange(4))

    class Scorer:
        name = "S"

        def score(self, users):
            return np.array([[0.0, 5.0, 8.0, 9.0]] * len(users), dtype=np.float32)

    cand = np.array([[2, 3, 1]])
    assert evaluate(Scorer(), Split(train, np.array([0]), [np.array([2])]), 1,
                    metrics=("HR",)) == {"HR@1": 1.0}
    held = Split(train, np.array([0]), [np.array([3])], np.array([[3, 2, 1]]))
    assert evaluate(Scorer(), held, 2, metrics=("HR",)) == {"HR@2": 0.0}
    assert evaluate(Scorer(), Split(train, np.array([0]), [np.array([2])], cand), 1,
                    metrics=("HR",)) == {"HR@1": 1.0}


def test_ndcg_and_recall_by_hand():
    # One user, held-out items at ranks 0 and 3 (0-based), k = 3:
    # DCG = 1/log2(2) = 1; IDCG = 1/log2(2) + 1/log2(3) = 1.6309; recall = 1/2; HR = 1.
    ranks = [np.array([0, 3])]
    assert ndcg(ranks, 3) == pytest.approx(1 / (1 + 1 / np.log2(3)))
    assert recall(ranks, 3) == 0.5
    assert hit_rate(ranks, 3) == 1.0
    # Single item at rank 2: NDCG@10 = 1/log2(4) = 0.5.
    assert ndcg([np.array([2])], 10) == pytest.approx(0.5)
    assert ndcg([np.array([10])], 10) == 0.0
    # Two users: recall averages per user (1/1 and 0/2), HR counts users with a hit.
    two = [np.array([4]), np.array([12, 30])]
    assert recall(two, 10) == 0.5 and hit_rate(two, 10) == 0.5


def test_summarize_names():
    out = summarize([np.array([0]), np.array([20])], (10, 30), ("HR", "NDCG"))
    assert out == {"HR@10": 0.5, "NDCG@10": 0.5, "HR@30": 1.0,
                   "NDCG@30": pytest.approx(0.5 + 0.5 / np.log2(22))}
    with pytest.raises(ValueError, match="unknown metric"):
        summarize([], (10,), ("MAP",))
