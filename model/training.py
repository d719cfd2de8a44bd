"""One DMF training epoch: observed entries plus sampled negatives, shuffled, mini-batch Adam.

Each batch runs the towers once per distinct customer and SKU in it (not once per sample):
popular SKUs and heavy buyers appear many times in a batch, and their bags are the costly part.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from model.bags import gather_bags
from model.losses import cosine, cross_entropy, targets
from model.network import DMFNetwork
from model.sampling import sample_negatives


def epoch_samples(
    matrix: sp.csr_matrix, neg_ratio: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, values) of every observed entry and its negatives, shuffled."""
    coo = matrix.tocoo()
    neg_u, neg_i = sample_negatives(matrix, neg_ratio, rng)
    users = np.concatenate([coo.row.astype(np.int64), neg_u])
    items = np.concatenate([coo.col.astype(np.int64), neg_i])
    values = np.concatenate([coo.data.astype(np.float32), np.zeros(len(neg_u), np.float32)])
    order = rng.permutation(len(users))
    return users[order], items[order], values[order]


def train_batch(
    net: DMFNetwork,
    optimizer: torch.optim.Optimizer,
    rows: sp.csr_matrix,
    cols: sp.csr_matrix,
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    loss_kind: str,
    max_rating: float,
    device: torch.device,
    leave_target_out: bool = True,
) -> float:
    """One optimizer step; `rows` is the user x item CSR, `cols` its transpose as CSR.

    With `leave_target_out`, an observed entry (i, j) is predicted from customer i's row
    without j and SKU j's column without i, as at serving time, where the SKU to find is not
    in the row yet. The first layer is linear, so that is one subtraction per sample.
    """
    uniq_u, inv_u = np.unique(users, return_inverse=True)
    uniq_i, inv_i = np.unique(items, return_inverse=True)
    users_t = torch.from_numpy(users).to(device)
    items_t = torch.from_numpy(items).to(device)
    values_t = torch.from_numpy(values).to(device)
    hu = net.user_tower.first_layer(*gather_bags(rows, uniq_u, device))
    hi = net.item_tower.first_layer(*gather_bags(cols, uniq_i, device))
    hu = hu[torch.from_numpy(inv_u).to(device)]
    hi = hi[torch.from_numpy(inv_i).to(device)]
    if leave_target_out:
        share = values_t[:, None]
        hu = hu - share * net.user_tower.first.weight[items_t]
        hi = hi - share * net.item_tower.first.weight[users_t]
    pred = cosine(net.user_tower.mlp(hu), net.item_tower.mlp(hi))
    target = targets(values_t, loss_kind, max_rating)
    loss = cross_entropy(pred, target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
