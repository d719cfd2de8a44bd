"""Score a fitted recommender on a split: the harness owns exclusion, candidates and ranking.

Models only provide `score(users) -> [len(users), n_items]`; everything that decides a figure
(what is excluded, which candidates, how ties fall) is here, identical for every model.
"""

from __future__ import annotations

import numpy as np

from model.metrics import rank_of, summarize
from model.splits import Split


def evaluate(
    model,
    split: Split,
    k: int | tuple[int, ...] = 10,
    *,
    metrics: tuple[str, ...] = ("HR", "NDCG", "Recall"),
    seed: int = 0,
    block: int = 512,
) -> dict[str, float]:
    """Ranks of the held-out SKUs for every tested customer, summarised at k (or each k).

    Full ranking (no candidates): every SKU not in the customer's training row is a candidate.
    SKUs without a training interaction rank last (ties among them broken at random).
    Sampled (candidates given): only those SKUs are, and training items are not excluded
    (the NCF files' negatives are taken as given).
    """
    rng = np.random.default_rng(seed)
    train = split.train.matrix.tocsr()
    n_items = train.shape[1]
    # SKUs nobody bought in training are ranked last for every model: no model may gain
    # (or lose) from an item's absence, which no model can know anything about.
    unseen = np.diff(train.tocsc().indptr) == 0
    ranks: list[np.ndarray] = []
    for lo in range(0, len(split.users), block):
        users = split.users[lo : lo + block]
        scores = np.asarray(model.score(users), dtype=np.float64)
        if scores.shape != (len(users), n_items):
            raise ValueError(f"{getattr(model, 'name', model)}.score returned shape "
                             f"{scores.shape}, expected {(len(users), n_items)}")
        scores[:, unseen] = -np.inf
        for row, u in enumerate(users):
            idx = lo + row
            if split.candidates is not None:
                cand = split.candidates[idx]
                # Candidate 0 is the held-out item; rank it within the candidate list.
                ranks.append(rank_of(scores[row, cand], np.array([0]), rng))
            else:
                s = scores[row].copy()
                s[train.indices[train.indptr[u] : train.indptr[u + 1]]] = -np.inf
                ranks.append(rank_of(s, split.test_items[idx], rng))
    return summarize(ranks, (k,) if isinstance(k, int) else tuple(k), metrics)
