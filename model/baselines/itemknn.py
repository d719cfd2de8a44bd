"""Item-KNN: cosine similarity between SKUs' buyer columns, top-k neighbours kept, score = X S."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class ItemKNN:
    name = "ItemKNN"

    def __init__(self, neighbours: int = 100) -> None:
        self.neighbours = neighbours

    def fit(self, matrix: sp.csr_matrix) -> ItemKNN:
        x = sp.csr_matrix(matrix, dtype=np.float32)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        xn = x @ sp.diags(1.0 / norms)
        sim = (xn.T @ xn).tocsr()
        sim.setdiag(0)
        sim.eliminate_zeros()
        self.similarity = _keep_top_k(sim, self.neighbours)
        self.matrix = x
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self.matrix[users] @ self.similarity).todense(), dtype=np.float32)


def _keep_top_k(sim: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep each column's k largest similarities (the neighbours that vote for that SKU)."""
    sim = sim.tocsc()
    data, indices, indptr = [], [], [0]
    for j in range(sim.shape[1]):
        s, e = sim.indptr[j], sim.indptr[j + 1]
        vals, rows = sim.data[s:e], sim.indices[s:e]
        if len(vals) > k:
            keep = np.argpartition(-vals, k)[:k]
            vals, rows = vals[keep], rows[keep]
        data.append(vals)
        indices.append(rows)
        indptr.append(indptr[-1] + len(vals))
    return sp.csc_matrix(
        (np.concatenate(data), np.concatenate(indices), np.array(indptr)), shape=sim.shape
    ).tocsr()
