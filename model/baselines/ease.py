"""EASE (Steck, WWW 2019): closed-form item-item model, B = -P / diag(P), P = (X'X + λI)^-1.

Dense in SKUs (n_items^2 floats), so it is a benchmark baseline, not a production path for a
catalog of 50k SKUs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class EASE:
    name = "EASE"

    def __init__(self, l2: float = 250.0) -> None:
        self.l2 = l2

    def fit(self, matrix: sp.csr_matrix) -> EASE:
        x = sp.csr_matrix((matrix > 0).astype(np.float64))
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        b = p / (-np.diag(p))
        b[np.diag_indices_from(b)] = 0.0
        self.weights = b.astype(np.float32)
        self.matrix = x.astype(np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[users] @ self.weights, dtype=np.float32)
