"""Purchase logs and the customer x SKU matrix built from them.

A `Purchases` log is the shape of the original Magento extraction (customer_id, sku, qty,
amount, ordered_at), one row per purchase line. `Interactions` is what every model learns
from: a CSR matrix of customers x SKUs plus the id maps that give its rows and columns names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

ValueScheme = Literal["binary", "quantity", "log1p", "amount"]
VALUE_SCHEMES: tuple[str, ...] = ("binary", "quantity", "log1p", "amount")


@dataclass
class Purchases:
    """A purchase log: parallel arrays, one entry per order line (qty may be negative: a return)."""

    customer_id: np.ndarray  # str (object) or int
    sku: np.ndarray
    qty: np.ndarray  # float64
    amount: np.ndarray  # float64
    ordered_at: np.ndarray  # int64 unix seconds

    def __post_init__(self) -> None:
        n = len(self.customer_id)
        for name in ("sku", "qty", "amount", "ordered_at"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Purchases.{name} has {len(getattr(self, name))} rows, not {n}")
        self.qty = np.asarray(self.qty, dtype=np.float64)
        self.amount = np.asarray(self.amount, dtype=np.float64)
        self.ordered_at = np.asarray(self.ordered_at, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.customer_id)

    def select(self, mask: np.ndarray) -> Purchases:
        return Purchases(
            self.customer_id[mask], self.sku[mask], self.qty[mask], self.amount[mask],
            self.ordered_at[mask],
        )

    def to_interactions(
        self,
        value: ValueScheme = "log1p",
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
    ) -> Interactions:
        """Aggregate lines per (customer, SKU) and turn them into matrix values.

        Quantities and amounts are summed first (so returns cancel purchases); pairs whose
        summed quantity is not positive are dropped. `user_ids`/`item_ids` fix the index
        (rows outside it are dropped), which is how a test split shares a train split's index.
        """
        if value not in VALUE_SCHEMES:
            raise ValueError(f"unknown value scheme {value!r}; choose one of {VALUE_SCHEMES}")
        if user_ids is None:
            user_ids = np.unique(self.customer_id)
        if item_ids is None:
            item_ids = np.unique(self.sku)
        rows = _lookup(user_ids, self.customer_id)
        cols = _lookup(item_ids, self.sku)
        keep = (rows >= 0) & (cols >= 0)
        rows, cols = rows[keep], cols[keep]
        shape = (len(user_ids), len(item_ids))
        qty = sp.coo_matrix((self.qty[keep], (rows, cols)), shape=shape).tocsr()
        amount = sp.coo_matrix((self.amount[keep], (rows, cols)), shape=shape).tocsr()
        # Latest purchase time per cell: max over lines, via a lexsort on (cell, time).
        last = _cell_max(rows, cols, self.ordered_at[keep], shape)
        qty.sum_duplicates()
        amount.sum_duplicates()
        positive = qty.copy()
        positive.data = (positive.data > 0).astype(np.float64)
        positive.eliminate_zeros()
        # Use the positive-quantity pattern for every derived matrix.
        pattern = positive.astype(bool)
        qty = qty.multiply(pattern).tocsr()
        amount = amount.multiply(pattern).tocsr()
        last = last.multiply(pattern).tocsr()
        if value == "binary":
            data = pattern.astype(np.float32)
        elif value == "quantity":
            data = qty.astype(np.float32)
        elif value == "log1p":
            data = qty.astype(np.float32)
            data.data = np.log1p(data.data)
        else:
            data = amount.astype(np.float32)
            data.data = np.maximum(data.data, 0.0)
        data = sp.csr_matrix(data)
        data.eliminate_zeros()
        data.sort_indices()
        last = sp.csr_matrix(last.astype(np.int64))
        last.sort_indices()
        return Interactions(data, np.asarray(user_ids), np.asarray(item_ids), last)


@dataclass
class Interactions:
    """customers x SKUs: `matrix[u, i]` is the interaction value, `last_at` the latest time."""

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    last_at: sp.csr_matrix | None = None
    _user_index: dict = field(default_factory=dict, repr=False)
    _item_index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.matrix = sp.csr_matrix(self.matrix, dtype=np.float32)
        if self.matrix.shape != (len(self.user_ids), len(self.item_ids)):
            raise ValueError(
                f"matrix shape {self.matrix.shape} does not match "
                f"{len(self.user_ids)} users x {len(self.item_ids)} items"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def nnz(self) -> int:
        return self.matrix.nnz

    def user_index(self, customer_id) -> int | None:
        if not self._user_index:
            self._user_index.update({u: k for k, u in enumerate(self.user_ids.tolist())})
        return self._user_index.get(customer_id)

    def item_index(self, sku) -> int | None:
        if not self._item_index:
            self._item_index.update({s: k for k, s in enumerate(self.item_ids.tolist())})
        return self._item_index.get(sku)


def _lookup(sorted_or_not: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each value in `sorted_or_not` (-1 where absent), vectorised."""
    keys = np.asarray(sorted_or_not)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    values = np.asarray(values)
    if len(sorted_keys) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_keys, values)
    pos_clipped = np.minimum(pos, len(sorted_keys) - 1)
    found = sorted_keys[pos_clipped] == values
    return np.where(found, order[pos_clipped], -1).astype(np.int64)


def _cell_max(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape) -> sp.csr_matrix:
    if len(rows) == 0:
        return sp.csr_matrix(shape, dtype=np.int64)
    cell = rows.astype(np.int64) * shape[1] + cols
    order = np.lexsort((values, cell))
    cell_sorted = cell[order]
    last_of_cell = np.r_[cell_sorted[1:] != cell_sorted[:-1], True]
    idx = order[last_of_cell]
    return sp.csr_matrix((values[idx], (rows[idx], cols[idx])), shape=shape)
