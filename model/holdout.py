"""Customer-batched training for DMF: part of each customer's row is the input, the rest the target.

A step takes a batch of customers. Each customer's purchases are split at random: a share
(`target_share`) are targets, the rest the input row its tower sees, so the step predicts
purchases the row does not show, as serving does. SKU columns lose the step's target entries
the same way (a SKU's tower never sees the customer it is asked about). Each target is
scored by a softmax over itself and the step's sampled SKUs that the customer never bought,
the objective of `model.softmax`, but the towers run once per customer and once per SKU of
the step, and the logits are [customers x candidates], not [purchases x candidates]: a
step costs what its batch touches, about a tenth of a per-purchase step's multiply-adds.

No row or column is ever emptied by the removal (a customer keeps one input purchase, a
SKU whose buyers would all be removed keeps them): an empty column must not come to mean
"bought", since at serving an empty column is a SKU nobody bought (ranked last, see
`model.recommender`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from model.dmf import Bags, DMFNetwork, gather_bags
from model.softmax import _bought


def customer_batches(
    matrix: sp.csr_matrix, batch: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """An epoch: every customer with at least two purchases once, shuffled, in batches."""
    trainable = np.flatnonzero(np.diff(matrix.indptr) >= 2)
    order = rng.permutation(trainable)
    return [order[lo : lo + batch] for lo in range(0, len(order), batch)]


def split_rows(
    rows: sp.csr_matrix, customers: np.ndarray, share: float, rng: np.random.Generator
) -> tuple[sp.csr_matrix, np.ndarray]:
    """(the customers' rows, bool per stored entry: is it a target).

    Each row of n purchases gets round(share x n) targets, at least 1 and at most n - 1."""
    sub = rows[customers]
    sub.sort_indices()
    counts = np.diff(sub.indptr)
    owner = np.repeat(np.arange(len(customers)), counts)
    order = np.lexsort((rng.random(sub.nnz), owner))  # random order inside each row
    rank = np.empty(sub.nnz, dtype=np.int64)
    rank[order] = np.arange(sub.nnz) - sub.indptr[owner[order]]
    wanted = np.clip(np.rint(share * counts), 1, counts - 1)
    return sub, rank < wanted[owner]


def _bags(indices: np.ndarray, owner: np.ndarray, values: np.ndarray, n: int,
          device: torch.device) -> Bags:
    counts = np.bincount(owner, minlength=n)
    offsets = np.zeros(n, dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    return Bags(torch.from_numpy(indices.astype(np.int64)).to(device),
                torch.from_numpy(offsets).to(device),
                torch.from_numpy(values.astype(np.float32)).to(device),
                torch.from_numpy(counts.astype(np.float32)).to(device))


def holdout_loss(
    net: DMFNetwork,
    rows: sp.csr_matrix,
    cols: sp.csr_matrix,
    customers: np.ndarray,
    rng: np.random.Generator,
    device: torch.device,
    *,
    temperature: float,
    target_share: float,
    candidates: int,
    buyable: np.ndarray,
) -> torch.Tensor:
    """Mean over the batch's targets of -log softmax(target vs. unbought candidates) (cos / T).

    `buyable`: SKUs with at least one buyer, the pool candidates are drawn from (uniformly,
    without replacement; all of them when there are fewer than `candidates`).
    """
    ut, it = net.user_tower, net.item_tower
    sub, is_target = split_rows(rows, customers, target_share, rng)
    owner = np.repeat(np.arange(len(customers)), np.diff(sub.indptr))
    inp = ~is_target
    p = ut(_bags(sub.indices[inp], owner[inp], sub.data[inp], len(customers), device))
    t_cust, t_item, t_val = owner[is_target], sub.indices[is_target], sub.data[is_target]

    cand = buyable if len(buyable) <= candidates else rng.choice(buyable, candidates, replace=False)
    skus, inv = np.unique(np.concatenate([cand, t_item]), return_inverse=True)
    bags = gather_bags(cols, skus, device)
    h = it.first_sum(bags)
    # Take the step's targets out of their columns, unless that would empty a column.
    col_of = inv[len(cand):]
    removed = np.bincount(col_of, minlength=len(skus))
    keep_col = removed < bags.counts.cpu().numpy().astype(np.int64)
    out = keep_col[col_of]
    if out.any():
        share = torch.from_numpy(t_val[out].astype(np.float32)).to(device)[:, None]
        users = torch.from_numpy(customers[t_cust[out]].astype(np.int64)).to(device)
        where = torch.from_numpy(col_of[out].astype(np.int64)).to(device)
        h = h.index_add(0, where, -share * F.embedding(users, it.first.weight))
    counts = bags.counts - torch.from_numpy(np.where(keep_col, removed, 0)).to(device)
    q = F.normalize(it.mlp(it.scale(h, counts)), dim=-1)
    p = F.normalize(p, dim=-1)

    cand_pos = torch.from_numpy(inv[: len(cand)].astype(np.int64)).to(device)
    logits = (p @ q[cand_pos].T) / temperature  # [customers, candidates]
    logits = logits.masked_fill(_bought(rows, customers, cand, device), float("-inf"))
    others = torch.logsumexp(logits, dim=1)  # over unbought candidates
    tc = torch.from_numpy(t_cust.astype(np.int64)).to(device)
    pos = (p[tc] * q[torch.from_numpy(col_of.astype(np.int64)).to(device)]).sum(-1)
    pos = pos / temperature
    return (torch.logaddexp(pos, others[tc]) - pos).mean()
