"""Per-epoch validation for `dmfrec train --validate`: HR@10/NDCG@10 on a leave-one-out split."""

from __future__ import annotations

from collections.abc import Callable

import scipy.sparse as sp

from model.evaluation import evaluate
from model.interactions import Interactions
from model.splits import leave_one_out, sample_candidates


def loo_epoch_callback(
    data: Interactions, seed: int = 0, every: int = 1
) -> tuple[sp.csr_matrix, Callable]:
    """(train matrix without each customer's latest SKU, callback scoring that SKU)."""
    split = sample_candidates(leave_one_out(data, seed=seed), data.matrix, seed=seed)

    def callback(epoch: int, model) -> dict[str, float] | None:
        if epoch % every:
            return None
        return evaluate(model, split, 10, metrics=("HR", "NDCG"), seed=seed)

    return split.train.matrix, callback
