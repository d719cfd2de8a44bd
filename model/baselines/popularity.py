"""ItemPop: every customer gets the SKUs most customers bought. The floor any model must clear."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class ItemPop:
    name = "ItemPop"

    def fit(self, matrix: sp.csr_matrix) -> ItemPop:
        """Popularity = number of distinct buyers (not quantity: one wholesaler is one vote)."""
        self.counts = np.asarray((sp.csr_matrix(matrix) > 0).sum(axis=0), dtype=np.float32).ravel()
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(users), 1))
