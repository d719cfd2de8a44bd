"""The DMF network: two MLP towers whose first layer is an embedding bag over a sparse row.

User tower: the customer's purchase row Y_i* (length n_items) -> p_i. Item tower: the SKU's
buyer column Y_*j (length n_users) -> q_j. As in the paper the first layer is linear without
bias or activation, the next ones are Linear + ReLU, and relevance is cos(p_i, q_j).

`Y_i* W` is the weighted sum of the weight rows of the entries present in the row, which is
exactly `EmbeddingBag(mode="sum")` over the row's column indices with the values as
per-sample weights: cost O(nnz * width), never a dense [batch, n_items] buffer.

Option (off by default, `input_norm="sqrt"`): the first layer's sum is divided by
sqrt(number of entries in the row), so heavy buyers and best sellers do not feed the ReLU
layers inputs 10x larger than light ones. It is a per-row constant, so the layer stays linear
in the row (fold-in stays exact, a target entry can still be taken out). It measured within
noise of the plain sum on all three tuning sets, so the paper's plain sum is the default.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

INPUT_NORMS = ("none", "sqrt")


@dataclass
class Bags:
    """EmbeddingBag input for a set of sparse rows, plus each row's entry count."""

    indices: torch.Tensor  # int64 [total nnz]: column indices of all rows, concatenated
    offsets: torch.Tensor  # int64 [rows]: where each row starts in `indices`
    weights: torch.Tensor  # float32 [total nnz]: the values (per-sample weights)
    counts: torch.Tensor  # float32 [rows]: entries per row


def gather_bags(
    matrix: sp.csr_matrix, rows: np.ndarray, device: torch.device | str = "cpu"
) -> Bags:
    """Bags of the given CSR rows (a CSC column is a row of the transpose), vectorised numpy."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1].astype(np.int64) - starts
    offsets = np.zeros(len(rows), dtype=np.int64)
    if len(rows) > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    total = int(lengths.sum())
    # Position of each gathered entry in matrix.indices: start of its row + rank inside it.
    src = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return Bags(
        torch.from_numpy(matrix.indices[src].astype(np.int64)).to(device),
        torch.from_numpy(offsets).to(device),
        torch.from_numpy(matrix.data[src].astype(np.float32)).to(device),
        torch.from_numpy(lengths.astype(np.float32)).to(device),
    )


class Tower(nn.Module):
    """EmbeddingBag(sum) first layer (optionally / sqrt(nnz)), then Linear + ReLU layers."""

    def __init__(
        self,
        n_inputs: int,
        widths: Sequence[int],
        init_std: float,
        input_norm: str = "none",
        dropout: float = 0.0,
        rank: int = 0,
    ) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("a tower needs at least one layer width")
        if input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS}, not {input_norm!r}")
        self.input_norm = input_norm
        if rank < 0:
            raise ValueError(f"rank must be >= 0, not {rank}")
        low_rank = 0 < rank < widths[0]
        self.first = nn.EmbeddingBag(n_inputs, rank if low_rank else widths[0], mode="sum")
        nn.init.normal_(self.first.weight, 0.0, init_std)
        layers: list[nn.Module] = []
        if low_rank:
            # The first layer as a product W = E P (E: n_inputs x rank, P: rank x width): still
            # linear in the row, so fold-in and taking one entry out work in rank space; the
            # per-input memory and the bags' reads shrink by width / rank. P ~ N(0, 1/rank)
            # keeps E P's entries at init_std.
            proj = nn.Linear(rank, widths[0], bias=False)
            nn.init.normal_(proj.weight, 0.0, rank**-0.5)
            layers.append(proj)
        # Dropout on the first layer's output (training only): a denoising regulariser.
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
        for w_in, w_out in itertools.pairwise(widths):
            linear = nn.Linear(w_in, w_out)
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.ReLU()]
        self.mlp = nn.Sequential(*layers)

    def forward(self, bags: Bags) -> torch.Tensor:
        return self.mlp(self.scale(self.first_sum(bags), bags.counts))

    def first_sum(self, bags: Bags) -> torch.Tensor:
        """Y_i* W, the plain weighted sum (linear: one entry's share can be taken out again)."""
        return self.first(bags.indices, bags.offsets, per_sample_weights=bags.weights)

    def first_sums(self, bags: Bags, entries: torch.Tensor, shares: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Y W of each bag, shares[k] * W[entries[k]] for each k) from one EmbeddingBag call.

        Training takes each positive's target out of its row as `h[row] - share * W[target]`.
        Reading both through one call gives the first layer one dense gradient a step
        instead of two, each as large as the layer (100 MB at 50k SKUs x 512) and zeroed
        before use."""
        n, nnz = len(bags.offsets), len(bags.indices)
        out = self.first(
            torch.cat([bags.indices, entries]),
            torch.cat([bags.offsets, nnz + torch.arange(len(entries), device=entries.device)]),
            per_sample_weights=torch.cat([bags.weights, shares.to(bags.weights.dtype)]),
        )
        return out[:n], out[n:]

    def scale(self, h: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """The first layer's output from the sum and the row's entry count."""
        if self.input_norm == "sqrt":
            return h * counts.clamp_min(1.0).rsqrt()[:, None]
        return h

    @torch.no_grad()
    def grow(self, extra: int, init_std: float) -> None:
        """Add `extra` input rows (new SKUs or customers); existing rows are kept as they are."""
        if extra <= 0:
            return
        old = self.first.weight
        new = torch.empty(extra, old.shape[1], device=old.device, dtype=old.dtype)
        nn.init.normal_(new, 0.0, init_std)
        grown = nn.EmbeddingBag(old.shape[0] + extra, old.shape[1], mode="sum").to(old.device)
        grown.weight.copy_(torch.cat([old, new]))
        self.first = grown


class DMFNetwork(nn.Module):
    """Both towers. Their last widths must match: the score is a cosine between their outputs."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        user_layers: Sequence[int],
        item_layers: Sequence[int],
        init_std: float = 0.01,
        input_norm: str = "none",
        dropout: float = 0.0,
        item_rank: int = 0,
    ) -> None:
        super().__init__()
        if user_layers[-1] != item_layers[-1]:
            raise ValueError(
                f"last widths differ (user {user_layers[-1]}, item {item_layers[-1]}): "
                "cosine needs equal output sizes"
            )
        self.user_tower = Tower(n_items, user_layers, init_std, input_norm, dropout)
        # item_rank: the customer-sized first layer of the item tower as E P (see Tower)
        self.item_tower = Tower(n_users, item_layers, init_std, input_norm, dropout, item_rank)

    @property
    def n_users(self) -> int:
        return self.item_tower.first.num_embeddings

    @property
    def n_items(self) -> int:
        return self.user_tower.first.num_embeddings
