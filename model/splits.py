"""Train/test splits for the three protocols (see shared docs: evaluation protocols).

loo/full: each customer's latest interaction is held out (ties by a seeded coin); loo then
ranks it among 99 sampled SKUs the customer never touched, full among every unseen SKU.
time: train on lines before T; test on the SKUs each known customer newly buys after T.
Customers with a single interaction keep it in train and are not tested: with an empty row
there is nothing to recommend from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from model.interactions import Interactions, Purchases

DAY = 86_400


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
    """Hold out each customer's latest interaction (by last purchase time, ties at random)."""
    if data.last_at is None:
        raise ValueError("leave-one-out needs purchase times (Interactions.last_at)")
    rng = np.random.default_rng(seed)
    matrix = sp.csr_matrix(data.matrix)
    matrix.sort_indices()
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    times = np.asarray(data.last_at.tocsr()[rows, matrix.indices]).ravel()
    # Within each row (rows stay contiguous and sized as in the CSR): by time, then a coin.
    order = np.lexsort((rng.random(matrix.nnz), times, rows))
    tested = np.flatnonzero(counts >= 2)
    held = order[matrix.indptr[tested + 1] - 1]  # positions in matrix.data
    items = matrix.indices[held].astype(np.int64)
    kept = np.ones(matrix.nnz, dtype=bool)
    kept[held] = False
    # The train part keeps its purchase times, so a validation split can be carved from it
    # (built from the kept entries: a time of 0, the first line of an NCF file, is a time).
    train = _entries(matrix, kept, matrix.data)
    last_at = _entries(matrix, kept, times.astype(np.int64))
    return Split(
        Interactions(train, data.user_ids, data.item_ids, last_at),
        tested.astype(np.int64),
        [np.array([i]) for i in items],
    )


def _entries(matrix: sp.csr_matrix, kept: np.ndarray, values: np.ndarray) -> sp.csr_matrix:
    """The kept entries of a CSR matrix (sorted indices) with the given per-entry values."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[kept]
    out = sp.csr_matrix((values[kept], (rows, matrix.indices[kept])), shape=matrix.shape)
    out.sort_indices()
    return out


def sample_candidates(
    split: Split, full: sp.csr_matrix, n_negatives: int = 99, seed: int = 0
) -> Split:
    """NCF protocol: the test item plus `n_negatives` SKUs the customer never touched."""
    rng = np.random.default_rng(seed)
    full = sp.csr_matrix(full)
    n_items = full.shape[1]
    out = np.empty((len(split.users), n_negatives + 1), dtype=np.int64)
    for k, (u, test) in enumerate(zip(split.users, split.test_items, strict=True)):
        seen = set(full.indices[full.indptr[u] : full.indptr[u + 1]].tolist()) | set(test.tolist())
        if n_items - len(seen) < n_negatives:
            raise ValueError(f"customer row {u} has fewer than {n_negatives} unseen SKUs "
                             f"(catalog of {n_items}): too small for protocol loo, use full")
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


def default_cutoff(purchases: Purchases, test_days: float | None = None) -> int:
    """T = the start of the last `test_days` days, or of the last sixth of the time span."""
    if len(purchases) == 0:
        raise ValueError("no purchases to split")
    t0, t1 = int(purchases.ordered_at.min()), int(purchases.ordered_at.max())
    if test_days is not None:
        if test_days <= 0:
            raise ValueError(f"test_days must be positive, not {test_days}")
        return t1 - int(test_days * DAY)
    return t1 - (t1 - t0) // 6


def time_split(
    purchases: Purchases,
    cutoff: int | None = None,
    value: str = "log1p",
    *,
    test_days: float | None = None,
    index: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Split, int]:
    """Train on lines before T; test each known customer on known SKUs first bought after T.

    "Known" means at least one interaction before T. A SKU is new to a customer if no line
    before T bought it (a purchase later cancelled still counts as bought). `index` (customer
    ids, SKU ids) fixes rows and columns, as a validation split shares its test split's.
    """
    if cutoff is None:
        cutoff = default_cutoff(purchases, test_days)
    before = purchases.select(purchases.ordered_at < cutoff)
    after = purchases.select(purchases.ordered_at >= cutoff)
    if len(before) == 0 or len(after) == 0:
        raise ValueError("the cut-off leaves no purchases on one side: choose another date")
    if index is None:
        full = before.to_interactions(value=value)
        users = full.user_ids[np.diff(full.matrix.indptr) > 0]
        items = full.item_ids[np.diff(full.matrix.tocsc().indptr) > 0]
    else:
        users, items = index
    train = before.to_interactions(value=value, user_ids=users, item_ids=items)
    bought = before.select(before.qty > 0).to_interactions("binary", users, items).matrix
    test = after.to_interactions("binary", users, items).matrix
    new = sp.csr_matrix(test - test.multiply(bought))
    new.eliminate_zeros()
    known = np.diff(train.matrix.indptr) > 0
    tested = np.flatnonzero((np.diff(new.indptr) > 0) & known)
    held = [np.sort(new.indices[new.indptr[u] : new.indptr[u + 1]]).astype(np.int64)
            for u in tested]
    return Split(train, tested.astype(np.int64), held), int(cutoff)
