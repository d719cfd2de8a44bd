"""Ranking metrics with ties broken at random, never in the held-out item's favour.

Sparse scorers (item-KNN, popularity) give many equal scores; counting only strictly greater
scores would rank a tied held-out item first and inflate their figures. Here a candidate list
is ordered by (score desc, random key): a target's rank is the number of candidates scoring
strictly higher plus a uniform random position among the ones it ties with.
"""

from __future__ import annotations

import numpy as np


def rank_of(
    scores: np.ndarray, targets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """0-based rank of each target column in one row of scores (-inf = not a candidate).

    NaN counts as the worst score, so a broken model cannot win by producing NaN. Several
    targets share one random order, so together they fill distinct list positions.
    """
    scores = np.asarray(scores, dtype=np.float64)
    scores = np.where(np.isnan(scores), -np.inf, scores)
    targets = np.asarray(targets, dtype=np.int64)
    keys = rng.random(scores.shape[0])
    t_scores = scores[targets][:, None]
    t_keys = keys[targets][:, None]
    tied_ahead = (scores[None, :] == t_scores) & (keys[None, :] > t_keys)
    ahead = (scores[None, :] > t_scores) | tied_ahead
    return ahead.sum(axis=1)


def hit_rate(ranks: list[np.ndarray], k: int) -> float:
    """Share of users with at least one held-out item in their top k."""
    return float(np.mean([np.any(r < k) for r in ranks])) if ranks else 0.0


def recall(ranks: list[np.ndarray], k: int) -> float:
    """Mean over users of (held-out items in top k) / (number of held-out items)."""
    return float(np.mean([np.mean(r < k) for r in ranks])) if ranks else 0.0


def ndcg(ranks: list[np.ndarray], k: int) -> float:
    """Mean binary-relevance NDCG@k; the ideal list puts min(|held out|, k) items on top."""
    if not ranks:
        return 0.0
    out = []
    for r in ranks:
        dcg = np.sum(1.0 / np.log2(r[r < k] + 2.0))
        ideal = np.sum(1.0 / np.log2(np.arange(min(len(r), k)) + 2.0))
        out.append(dcg / ideal)
    return float(np.mean(out))


METRICS = {"HR": hit_rate, "NDCG": ndcg, "Recall": recall}


def summarize(ranks: list[np.ndarray], ks: tuple[int, ...], names: tuple[str, ...]) -> dict:
    """{"HR@10": ..., "NDCG@10": ..., "Recall@10": ...} for the requested metric names."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        choices = ", ".join(METRICS)
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {choices}")
    return {f"{n}@{k}": METRICS[n](ranks, k) for k in ks for n in names}
