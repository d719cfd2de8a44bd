"""Row-batched sampled softmax for DMF: a step takes whole customer rows, and every purchase
in them is a positive scored against the step's shared candidates.

The objective of `model.softmax` (each purchase against ~1,000 unbought SKUs, cosines / T),
with the candidates' logits computed once per customer instead of once per purchase. Each
positive (i, j) is still predicted from customer i's row without j and SKU j's column
without i, as at serving; the candidates, which i never bought, are scored from i's whole
row: the row's own SKUs are not candidates, so nothing of the answer leaks into them, and a
row of 40 purchases then costs one [candidates] row of logits instead of 40. On Online
Retail that product and its softmax were most of a narrow network's step (BENCHMARKS.md).

As in `model.softmax`, no row or column is ever emptied by leaving a target out: an empty
column must not come to mean "bought" (a SKU nobody bought ranks last at serving).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from model.dmf import DMFNetwork, gather_bags
from model.softmax import _bought, _index


def row_batches(matrix: sp.csr_matrix, positives: int, rng: np.random.Generator
                ) -> list[np.ndarray]:
    """An epoch: every customer with a purchase once, shuffled, cut into steps of about
    `positives` purchases (a step holds at least one customer)."""
    customers = rng.permutation(np.flatnonzero(np.diff(matrix.indptr) > 0))
    ends = np.cumsum(np.diff(matrix.indptr)[customers])
    cuts = np.searchsorted(ends, np.arange(positives, int(ends[-1]), positives), side="left")
    return [c for c in np.split(customers, np.unique(cuts + 1)) if len(c)]


def row_softmax_loss(
    net: DMFNetwork,
    rows: sp.csr_matrix,
    cols: sp.csr_matrix,
    customers: np.ndarray,
    rng: np.random.Generator,
    device: torch.device,
    *,
    temperature: float,
    candidates: int,
    buyable: np.ndarray,
) -> torch.Tensor:
    """Mean over the customers' purchases of -log softmax(positive vs. unbought candidates).

    `buyable`: SKUs with at least one buyer, the pool the step's candidates are drawn from
    (uniformly without replacement; all of them when fewer than `candidates`)."""
    ut, it = net.user_tower, net.item_tower
    sub = rows[customers]
    owner = np.repeat(np.arange(len(customers)), np.diff(sub.indptr))
    items, values = sub.indices.astype(np.int64), sub.data.astype(np.float32)
    cand = buyable if len(buyable) <= candidates else np.sort(
        rng.choice(buyable, candidates, replace=False))
    skus, inv = np.unique(np.concatenate([cand, items]), return_inverse=True)
    bags_u = gather_bags(rows, customers, device)
    bags_i = gather_bags(cols, skus, device)
    pos_u, pos_i = _index(owner, device), _index(inv[len(cand):], device)
    out = (bags_u.counts[pos_u] > 1) & (bags_i.counts[pos_i] > 1)
    share = torch.from_numpy(values).to(device) * out
    hu, tu = ut.first_sums(bags_u, _index(items, device), share)
    hi, ti = it.first_sums(bags_i, _index(customers[owner], device), share)
    q_all = F.normalize(it.mlp(it.scale(hi, bags_i.counts)), dim=-1)
    p_row = F.normalize(ut.mlp(ut.scale(hu, bags_u.counts)), dim=-1) / temperature
    p = F.normalize(ut.mlp(ut.scale(hu[pos_u] - tu, bags_u.counts[pos_u] - out.float())), dim=-1)
    q = F.normalize(it.mlp(it.scale(hi[pos_i] - ti, bags_i.counts[pos_i] - out.float())), dim=-1)
    pos = (p * q).sum(-1) / temperature

    # [customers x candidates], once per customer; their own SKUs masked out.
    neg = (p_row @ q_all[_index(inv[: len(cand)], device)].T).masked_fill_(
        _bought(rows, customers, cand, device), float("-inf"))
    others = torch.logsumexp(neg, dim=1)[pos_u]
    return (torch.logaddexp(pos, others) - pos).mean()
