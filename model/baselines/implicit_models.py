"""ALS and BPR from the `implicit` package, behind the harness's `fit`/`score` API.

ALS takes the interaction values as confidences (implicit's convention, user_items CSR);
BPR uses only which entries are observed. One thread each so timings are comparable on 2 cores.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class _ImplicitModel:
    name = "implicit"

    def _build(self):  # pragma: no cover - each subclass builds its model
        raise NotImplementedError

    def fit(self, matrix: sp.csr_matrix) -> _ImplicitModel:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            self.model = self._build()
            self.model.fit(sp.csr_matrix(matrix, dtype=np.float32), show_progress=False)
        self.users = np.asarray(self.model.user_factors)
        self.items = np.asarray(self.model.item_factors)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return (self.users[users] @ self.items.T).astype(np.float32)


class ALS(_ImplicitModel):
    name = "ALS"

    def __init__(self, factors: int = 64, iterations: int = 15, regularization: float = 0.05,
                 alpha: float = 1.0, seed: int = 0) -> None:
        self.params = dict(factors=factors, iterations=iterations, regularization=regularization,
                           alpha=alpha, random_state=seed, num_threads=1)

    def _build(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(**self.params)


class BPR(_ImplicitModel):
    name = "BPR"

    def __init__(self, factors: int = 64, iterations: int = 100, learning_rate: float = 0.01,
                 regularization: float = 0.01, seed: int = 0) -> None:
        self.params = dict(factors=factors, iterations=iterations, learning_rate=learning_rate,
                           regularization=regularization, random_state=seed, num_threads=1)

    def _build(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(**self.params)
