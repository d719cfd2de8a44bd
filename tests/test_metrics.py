"""Metric code on tiny cases computed by hand."""

import numpy as np
import pytest

from model.metrics import hit_rate, ndcg, rank_of, recall, summarize


def test_rank_counts_strictly_higher_scores():
    rng = np.random.default_rng(0)
    scores = np.array([0.9, 0.1, 0.5, 0.7])
    assert rank_of(scores, np.array([2]), rng).tolist() == [2]  # 0.9 and 0.7 ahead
    assert rank_of(scores, np.array([0, 1]), rng).tolist() == [0, 3]


def test_excluded_candidates_never_rank_ahead():
    rng = np.random.default_rng(0)
    scores = np.array([np.inf * -1, 0.2, -np.inf, 0.1])
    assert rank_of(scores, np.array([3]), rng).tolist() == [1]


def test_ties_are_a_fair_coin_not_a_win():
    # A constant scorer: the held-out item is tied with 99 others. Counting only strictly
    # greater scores would give HR@10 = 1; a fair tie-break gives 10/100.
    rng = np.random.default_rng(42)
    ranks = [rank_of(np.zeros(100), np.array([0]), rng) for _ in range(4000)]
    assert hit_rate(ranks, 10) == pytest.approx(0.10, abs=0.015)
    assert min(int(r[0]) for r in ranks) == 0 and max(int(r[0]) for r in ranks) == 99


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


def test_summarize_names():
    out = summarize([np.array([0]), np.array([20])], (10,), ("HR", "NDCG"))
    assert out == {"HR@10": 0.5, "NDCG@10": 0.5}
