"""Sparse rows as EmbeddingBag input: the first DMF layer without a dense row.

`Y_i* W` is the weighted sum of the weight rows of the items customer i bought, which is exactly
`EmbeddingBag(mode="sum")` over the row's column indices with the values as per-sample weights.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def gather_bags(
    matrix: sp.csr_matrix, rows: np.ndarray, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(indices, offsets, weights) of the given CSR rows, built with vectorised numpy."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1].astype(np.int64) - starts
    offsets = np.zeros(len(rows), dtype=np.int64)
    if len(rows) > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    total = int(lengths.sum())
    # Position of each gathered entry in matrix.indices: start of its row + rank inside it.
    within = np.arange(total, dtype=np.int64) - np.repeat(offsets, lengths)
    src = np.repeat(starts, lengths) + within
    return (
        torch.from_numpy(matrix.indices[src].astype(np.int64)).to(device),
        torch.from_numpy(offsets).to(device),
        torch.from_numpy(matrix.data[src].astype(np.float32)).to(device),
    )
