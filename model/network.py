"""The DMF network: two MLP towers whose first layer is an embedding bag over a sparse row.

User tower: the customer's purchase row (length n_items) -> p_i. Item tower: the SKU's buyer
column (length n_users) -> q_j. As in the paper, the first layer is linear without bias or
activation, the next ones are Linear + ReLU; relevance is cos(p_i, q_j).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn


class Tower(nn.Module):
    """EmbeddingBag(sum) first layer, then Linear + ReLU layers."""

    def __init__(self, n_inputs: int, widths: Sequence[int], init_std: float) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("a tower needs at least one layer width")
        self.first = nn.EmbeddingBag(n_inputs, widths[0], mode="sum")
        nn.init.normal_(self.first.weight, 0.0, init_std)
        layers: list[nn.Module] = []
        for w_in, w_out in itertools.pairwise(widths):
            linear = nn.Linear(w_in, w_out)
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.ReLU()]
        self.mlp = nn.Sequential(*layers)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor):
        return self.mlp(self.first(indices, offsets, per_sample_weights=weights))

    def first_layer(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor):
        """Y_i* W: linear, so one entry's share can be taken out again (see training)."""
        return self.first(indices, offsets, per_sample_weights=weights)

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
    ) -> None:
        super().__init__()
        if user_layers[-1] != item_layers[-1]:
            raise ValueError(
                f"last widths differ (user {user_layers[-1]}, item {item_layers[-1]}): "
                "cosine needs equal output sizes"
            )
        self.user_tower = Tower(n_items, user_layers, init_std)
        self.item_tower = Tower(n_users, item_layers, init_std)
