"""DMF training: observed entries plus sampled negatives, shuffled, mini-batch Adam.

Each batch runs the towers once per distinct customer and SKU in it (not once per sample):
popular SKUs and heavy buyers appear many times in a batch, and their bags are the costly
part. On small catalogs a batch touches nearly every row and column, so a step costs about
one pass over the matrix whatever the batch size: large batches are what make CPU training
fast.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from model.dmf import DMFNetwork, gather_bags
from model.losses import cosine
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


def batch_predictions(
    net: DMFNetwork,
    rows: sp.csr_matrix,
    cols: sp.csr_matrix,
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    device: torch.device,
    leave_target_out: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(cosines, interaction values) of a batch, in an order of its own.

    `rows` is the user x item CSR, `cols` its transpose as CSR. The towers run once per
    distinct customer and SKU; negatives are scored from those vectors. With
    `leave_target_out`, an observed entry (i, j) is predicted from customer i's row without j
    and SKU j's column without i, as at serving time, where the SKU to find is not in the row
    yet (otherwise the towers learn to spot j in i's row, which never happens when it
    matters). The first layer is linear, so that is one subtraction per positive, and only
    positives need their own pass through the ReLU layers.
    """
    uniq_u, inv_u = np.unique(users, return_inverse=True)
    uniq_i, inv_i = np.unique(items, return_inverse=True)
    inv_u, inv_i = inv_u.reshape(-1), inv_i.reshape(-1)
    ut, it = net.user_tower, net.item_tower
    bags_u = gather_bags(rows, uniq_u, device)
    bags_i = gather_bags(cols, uniq_i, device)
    if leave_target_out:
        pos = np.flatnonzero(values)  # observed entries; sampled negatives are 0
        neg = np.flatnonzero(values == 0)
    else:
        pos, neg = np.zeros(0, dtype=np.int64), np.arange(len(values))

    def index(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)

    pos_u, pos_i = index(inv_u[pos]), index(inv_i[pos])
    value = torch.from_numpy(values[pos]).to(device)
    # Never empty a row or a column (see model.softmax): those keep the target in.
    out = (bags_u.counts[pos_u] > 1) & (bags_i.counts[pos_i] > 1)
    hu, tu = ut.first_sums(bags_u, index(items[pos]), value * out)
    hi, ti = it.first_sums(bags_i, index(users[pos]), value * out)
    p_all = ut.mlp(ut.scale(hu, bags_u.counts))
    q_all = it.mlp(it.scale(hi, bags_i.counts))

    preds = [cosine(p_all[index(inv_u[neg])], q_all[index(inv_i[neg])])]
    truth = [torch.from_numpy(values[neg]).to(device)]
    if len(pos):
        p_pos = ut.mlp(ut.scale(hu[pos_u] - tu, bags_u.counts[pos_u] - out.float()))
        q_pos = it.mlp(it.scale(hi[pos_i] - ti, bags_i.counts[pos_i] - out.float()))
        preds.append(cosine(p_pos, q_pos))
        truth.append(value)
    return torch.cat(preds), torch.cat(truth)


def cosine_lr(base: float, step: int, total: int, floor: float = 0.05) -> float:
    """Cosine decay from `base` to `floor * base` over `total` steps."""
    if total <= 1:
        return base
    frac = min(step / (total - 1), 1.0)
    return base * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * frac)))
