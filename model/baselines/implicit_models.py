"""ALS and BPR from the `implicit` package (CPU), behind the harness's `fit`/`score` API.

Both get implicit 0.7's `user_items` CSR (customers x SKUs, float32), a fixed `random_state`
and NUM_THREADS threads (1: reproducible, and timings comparable on a 2-core machine).

ALS weighting, picked on ML-100K (loo, full), Online Retail (time) and the synthetic shop:
confidence c = 1 + alpha * value (Hu et al. 2008; value = the harness's matrix, log1p
quantity by default), alpha 1, regularization 10. implicit itself uses c = value, which
gives a single-unit purchase (log1p 1 = 0.69) less weight than a non-purchase. BM25
weighting lost on ML-100K loo and Online Retail; alphas 3-50 and regularization 0.05-1
(overfits small data) or 30-100 lost too.
BPR: lr 0.01, regularization 0.01, 100 epochs (more epochs or larger steps overfit ML-100K).
"""

from __future__ import annotations

import importlib

import numpy as np
import scipy.sparse as sp

NUM_THREADS = 1


class _ImplicitModel:
    name = "implicit"
    params: dict

    def _build(self):
        raise NotImplementedError

    def _weigh(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """The values implicit sees (BPR: only which entries exist)."""
        return user_items

    @staticmethod
    def _load_implicit() -> None:
        """Import implicit before limiting threads: a BLAS loaded later would escape the limit."""
        for module in ("implicit.cpu.als", "implicit.cpu.bpr"):
            importlib.import_module(module)

    def fit(self, matrix: sp.csr_matrix) -> _ImplicitModel:
        from threadpoolctl import threadpool_limits

        self._load_implicit()
        user_items = sp.csr_matrix(matrix, dtype=np.float32)
        user_items.eliminate_zeros()
        with threadpool_limits(NUM_THREADS, "blas"):
            self.model = self._build()
            self.model.fit(self._weigh(user_items), show_progress=False)
        self.users = np.asarray(self.model.user_factors, dtype=np.float32)
        self.items = np.asarray(self.model.item_factors, dtype=np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return (self.users[users] @ self.items.T).astype(np.float32)


class ALS(_ImplicitModel):
    name = "ALS"

    def __init__(self, factors: int = 64, iterations: int = 15, regularization: float = 10.0,
                 alpha: float = 1.0, seed: int = 0) -> None:
        self.alpha = alpha
        self.params = dict(factors=factors, iterations=iterations, regularization=regularization,
                           alpha=1.0, random_state=seed, num_threads=NUM_THREADS)

    def _weigh(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """Confidence 1 + alpha * value on observed entries (unobserved weigh 1)."""
        weighted = user_items.copy()
        weighted.data = (1.0 + self.alpha * weighted.data).astype(np.float32)
        return weighted

    def _build(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(**self.params)


class BPR(_ImplicitModel):
    name = "BPR"

    def __init__(self, factors: int = 64, iterations: int = 100, learning_rate: float = 0.01,
                 regularization: float = 0.01, seed: int = 0) -> None:
        self.params = dict(factors=factors, iterations=iterations, learning_rate=learning_rate,
                           regularization=regularization, random_state=seed,
                           num_threads=NUM_THREADS)

    def _build(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(**self.params)
