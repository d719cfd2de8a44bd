"""Validation splits carved from a split's training part alone: what selection and early
stopping may see.

Every default, epoch count and stopping point is chosen on these; the test split is scored
once per reported configuration. The rule is the test split's own, one step earlier:
- loo / full (and the NCF files): each customer's latest remaining training purchase is held
  out (loo ranks it among 99 SKUs the customer never bought in training);
- time: the window just before the test cut-off, as long as the test window, is the
  validation window; the model trains on what came before it.
Rows and columns keep the test split's index, so a model stopped on the validation split can
serve the whole training matrix (DMF folds the held-out purchases in: `model.harness`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from model.evaluation import evaluate
from model.interactions import Interactions, Purchases
from model.splits import Split, leave_one_out, sample_candidates, time_split


def validation_split(
    split: Split,
    protocol: str,
    *,
    purchases: Purchases | None = None,
    cutoff: int | None = None,
    value: str = "log1p",
    seed: int = 0,
) -> Split:
    """A split of `split.train` by the protocol's rule (time needs the purchases and T)."""
    if protocol == "time":
        if purchases is None or cutoff is None:
            raise ValueError("a time validation split needs the purchases and the test cut-off")
        before = purchases.select(purchases.ordered_at < cutoff)
        window = int(purchases.ordered_at.max()) - cutoff
        index = (split.train.user_ids, split.train.item_ids)
        return time_split(before, cutoff - window, value, index=index)[0]
    val = leave_one_out(split.train, seed=seed)
    if protocol == "loo":
        sample_candidates(val, split.train.matrix, seed=seed)
    return val


def stopping_split(
    data: Interactions, max_customers: int = 5000, seed: int = 0
) -> tuple[sp.csr_matrix, Split | None]:
    """(matrix to train on, split to stop on) for production training (`dmfrec train`, the
    nightly retrain): the latest purchase of up to `max_customers` customers (at random, of
    those with two or more) is held out and ranked among every SKU; everyone else trains on
    their whole row. The caller serves `data.matrix` afterwards: the held-out purchases are
    folded in. None when no customer has two purchases."""
    try:
        loo = leave_one_out(data, seed=seed)
    except ValueError:
        return data.matrix, None
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(len(loo.users))[:max_customers])
    users = loo.users[pick]
    items = np.array([loo.test_items[k][0] for k in pick], dtype=np.int64)
    held = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)),
                         shape=data.shape)
    train = sp.csr_matrix(data.matrix - data.matrix.multiply(held))
    train.eliminate_zeros()
    split = Split(Interactions(train, data.user_ids, data.item_ids), users,
                  [np.array([i]) for i in items])
    return train, split


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
