"""Train/test splits for the three protocols (see shared docs: evaluation protocols).

loo: each customer's latest interaction is held out (ties by a seeded coin).
time: train on lines before T; test on the SKUs each known customer first buys after T.
Customers with a single interaction keep it in train and are not tested: with an empty row
there is nothing to recommend from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from model.interactions import Interactions, Purchases


@dataclass
class Split:
    """Train matrix, held-out SKUs per tested customer, optional fixed candidate lists."""

    train: Interactions
    users: np.ndarray  # tested customer rows
    test_items: list[np.ndarray]  # per tested customer
    candidates: np.ndarray | None = None  # [len(users), n] incl. the test item, or None = full

    def __post_init__(self) -> None:
        if len(self.users) == 0:
            raise ValueError("the split has no test customers: too little data for this protocol")


def leave_one_out(data: Interactions, seed: int = 0) -> Split:
    """Hold out each customer's latest interaction (by last purchase time)."""
    rng = np.random.default_rng(seed)
    matrix, last = data.matrix.tocsr(), data.last_at
    if last is None:
        raise ValueError("leave-one-out needs purchase times (Interactions.last_at)")
    last = last.tocsr()
    users, items = [], []
    for u in range(matrix.shape[0]):
        s, e = matrix.indptr[u], matrix.indptr[u + 1]
        if e - s < 2:
            continue
        cols = matrix.indices[s:e]
        times = np.asarray(last[u, cols].todense()).ravel()
        latest = np.lexsort((rng.random(len(cols)), times))[-1]
        users.append(u)
        items.append(cols[latest])
    users_a, items_a = np.array(users, dtype=np.int64), np.array(items, dtype=np.int64)
    mask = sp.csr_matrix(
        (np.ones(len(users_a)), (users_a, items_a)), shape=matrix.shape, dtype=bool
    )
    train = matrix - matrix.multiply(mask)
    train = sp.csr_matrix(train)
    train.eliminate_zeros()
    return Split(
        Interactions(train, data.user_ids, data.item_ids),
        users_a,
        [np.array([i]) for i in items_a],
    )


def sample_candidates(
    split: Split, full: sp.csr_matrix, n_negatives: int = 99, seed: int = 0
) -> Split:
    """NCF protocol: the test item plus `n_negatives` SKUs the customer never touched."""
    rng = np.random.default_rng(seed)
    n_items = full.shape[1]
    out = np.empty((len(split.users), n_negatives + 1), dtype=np.int64)
    for k, (u, test) in enumerate(zip(split.users, split.test_items, strict=True)):
        seen = set(full[u].indices.tolist()) | set(test.tolist())
        if n_items - len(seen) < n_negatives:
            raise ValueError(f"customer row {u} has fewer than {n_negatives} unseen SKUs")
        picked: list[int] = []
        while len(picked) < n_negatives:
            for j in rng.integers(0, n_items, size=2 * n_negatives).tolist():
                if j not in seen:
                    seen.add(j)
                    picked.append(j)
                    if len(picked) == n_negatives:
                        break
        out[k, 0] = test[0]
        out[k, 1:] = picked
    split.candidates = out
    return split


def time_split(
    purchases: Purchases, cutoff: int | None = None, value: str = "log1p"
) -> tuple[Split, int]:
    """Train before `cutoff` (default: the last sixth of the time span is the test window)."""
    if len(purchases) == 0:
        raise ValueError("no purchases to split")
    t0, t1 = int(purchases.ordered_at.min()), int(purchases.ordered_at.max())
    if cutoff is None:
        cutoff = t1 - (t1 - t0) // 6
    before = purchases.select(purchases.ordered_at < cutoff)
    after = purchases.select(purchases.ordered_at >= cutoff)
    train = before.to_interactions(value=value)
    test = after.to_interactions(value="binary", user_ids=train.user_ids, item_ids=train.item_ids)
    # Only SKUs new to the customer count: a repeat of a known purchase is not a discovery.
    new = test.matrix - test.matrix.multiply(train.matrix.astype(bool))
    new = sp.csr_matrix(new)
    new.eliminate_zeros()
    users, items = [], []
    counts = np.diff(train.matrix.indptr)
    for u in range(new.shape[0]):
        cols = new.indices[new.indptr[u] : new.indptr[u + 1]]
        if len(cols) and counts[u] > 0:
            users.append(u)
            items.append(np.sort(cols).astype(np.int64))
    return Split(train, np.array(users, dtype=np.int64), items), cutoff
