"""EASE (Steck, WWW 2019): closed-form item-item model, B = -P / diag(P), P = (X'X + λI)^-1.

Fit on the binary pattern (Steck's setting). λ = 500 was best on ML-100K (tried 50-1000; 250
and 500 within noise there and on Online Retail). Dense in SKUs (n_items^2 floats, 1.3 GB
for Amazon Music's 12,929 items), so it is a benchmark baseline, not a production path.
X'X + λI is symmetric positive definite: a Cholesky inverse is 4x faster than a general one.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack


class EASE:
    name = "EASE"

    def __init__(self, l2: float = 500.0) -> None:
        if l2 <= 0:
            raise ValueError(f"EASE needs a positive l2, not {l2}")
        self.l2 = l2

    @staticmethod
    def fit_bytes(shape: tuple[int, int]) -> int:
        """Peak memory of a fit: 16 bytes per SKU pair (the float64 Gram matrix, LAPACK's
        Fortran-ordered copy of it, then the float32 weights; measured with tracemalloc at
        3,000 SKUs: 16.0); 34k SKUs: 18.5 GB."""
        return 16 * shape[1] ** 2

    def fit(self, matrix: sp.csr_matrix) -> EASE:
        x = sp.csr_matrix((sp.csr_matrix(matrix) > 0).astype(np.float64))
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        p = spd_inverse(gram)
        del gram
        p /= -np.diag(p).copy()  # column j divided by -P_jj
        p[np.diag_indices_from(p)] = 0.0
        self.weights = p.astype(np.float32)
        self.matrix = x.astype(np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[users] @ self.weights, dtype=np.float32)


def spd_inverse(a: np.ndarray, block: int = 2048) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix (LAPACK potrf + potri)."""
    chol, info = lapack.dpotrf(a, lower=0, clean=0, overwrite_a=1)
    if info == 0:
        inv, info = lapack.dpotri(chol, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (LAPACK info {info})")
    # potri fills the upper triangle only: mirror it, a block of rows at a time.
    for lo in range(0, inv.shape[0], block):
        hi = min(lo + block, inv.shape[0])
        inv[lo:hi, :lo] = inv[:lo, lo:hi].T
        diag = inv[lo:hi, lo:hi]
        inv[lo:hi, lo:hi] = np.triu(diag) + np.triu(diag, 1).T
    return inv
