"""Sampled-softmax training for DMF: each observed entry against many sampled SKUs.

The paper scores (i, j) by the cosine itself, read as a probability, under a (normalized)
cross-entropy. A cosine lives in [-1, 1], so as a probability it can hardly separate the
best SKUs from merely good ones, and full-catalog rankings suffer. Here the same cosines,
divided by a temperature, are the logits of a softmax over the positive and sampled SKUs
the customer never bought: the towers, the cosine and serving are unchanged; only the
training objective differs (`DMFConfig.loss = "softmax"`).

Candidates (`shared`): every SKU drawn as a negative anywhere in the step (up to `shared`
of them, uniform) is a candidate for every positive of the step, less the SKUs that
positive's customer bought. A step already runs the item tower on those SKUs, so the extra
cost is one [positives x candidates] matrix product; with ~1,000 candidates this is close to
a full softmax, which ranks the best SKUs better than 4 negatives of one's own: Recall@10
0.046 -> 0.049 on Online Retail, 0.140 -> 0.149 on ML-100K full ranking (BENCHMARKS.md).
`shared=0` keeps each positive's own `neg_ratio` negatives.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from model.dmf import DMFNetwork, gather_bags
from model.logsumexp import masked_logsumexp
from model.sampling import sample_negatives


def epoch_groups(
    matrix: sp.csr_matrix, neg_ratio: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, values, negatives [nnz, neg_ratio]) of every observed entry, shuffled."""
    coo = matrix.tocoo()
    _, neg_items = sample_negatives(matrix, neg_ratio, rng)  # entry e's at e*ratio ...
    negatives = neg_items.reshape(-1, neg_ratio)
    order = rng.permutation(coo.nnz)
    return (coo.row.astype(np.int64)[order], coo.col.astype(np.int64)[order],
            coo.data.astype(np.float32)[order], negatives[order])


def shared_steps(
    matrix: sp.csr_matrix, neg_ratio: int, size: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """An epoch's steps for the shared candidates: (users, items, values) of `size` shuffled
    purchases, and `neg_ratio` uniform SKUs per purchase drawn for that step only.

    The draws only pick the step's candidates, and the loss masks each positive's bought
    ones (`_bought_pairs`), so they need no per-customer redraw and no epoch-wide
    [purchases x neg_ratio] array (with its sampling, about 2 GB at 1M customers)."""
    coo = matrix.tocoo()
    order = rng.permutation(coo.nnz)
    users, items = coo.row[order], coo.col[order]
    values = coo.data[order].astype(np.float32)
    for lo in range(0, coo.nnz, size):
        n = len(users[lo : lo + size])
        yield (users[lo : lo + size], items[lo : lo + size], values[lo : lo + size],
               rng.integers(0, matrix.shape[1], size=(n, neg_ratio)))


def _index(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)


def softmax_loss(
    net: DMFNetwork,
    rows: sp.csr_matrix,
    cols: sp.csr_matrix,
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    negatives: np.ndarray,
    device: torch.device,
    temperature: float,
    leave_target_out: bool = True,
    shared: int = 0,
) -> torch.Tensor:
    """Mean cross-entropy of softmax([cos(p_i, q_j), cos(p_i, q_k) for candidates k] / T).

    As in `model.training.batch_predictions`, towers run once per distinct customer and SKU,
    and with `leave_target_out` the positive is predicted from the row without j and the
    column without i; the same row vector p_i scores the candidates: the positive's own
    negatives, or with `shared > 0` the step's shared candidates (module docstring).
    """
    n, k = negatives.shape
    ut, it = net.user_tower, net.item_tower
    uniq_u, inv_u = np.unique(users, return_inverse=True)
    cand = _shared_candidates(negatives, shared) if shared else negatives.ravel()
    uniq_i, inv_i = np.unique(np.concatenate([items, cand]), return_inverse=True)
    inv_u, inv_i = inv_u.reshape(-1), inv_i.reshape(-1)
    bags_u = gather_bags(rows, uniq_u, device)
    bags_i = gather_bags(cols, uniq_i, device)
    pos_u, pos_i = _index(inv_u, device), _index(inv_i[:n], device)
    if leave_target_out:
        # Never empty a row or a column: an empty column would come to mean "bought"
        # (a single-buyer SKU's only positive), while at serving it is a SKU nobody bought.
        out = (bags_u.counts[pos_u] > 1) & (bags_i.counts[pos_i] > 1)
        share = torch.from_numpy(values).to(device) * out
        hu, tu = ut.first_sums(bags_u, _index(items, device), share)
        hi, ti = it.first_sums(bags_i, _index(users, device), share)
        q_all = it.mlp(it.scale(hi, bags_i.counts))
        p = ut.mlp(ut.scale(hu[pos_u] - tu, bags_u.counts[pos_u] - out.float()))
        q_pos = it.mlp(it.scale(hi[pos_i] - ti, bags_i.counts[pos_i] - out.float()))
    else:
        hu, hi = ut.first_sum(bags_u), it.first_sum(bags_i)
        q_all = it.mlp(it.scale(hi, bags_i.counts))
        p = ut.mlp(ut.scale(hu, bags_u.counts))[pos_u]
        q_pos = q_all[pos_i]
    if shared:  # every positive against the step's candidates, less what its customer bought
        return _logits_loss(p, q_pos, q_all[_index(inv_i[n:], device)],
                            _bought_pairs(rows, users, cand, device), temperature)
    return _own_negatives_loss(p, q_pos, q_all[_index(inv_i[n:], device).view(n, k)],
                               temperature)


def _logits_loss(
    p: torch.Tensor, q_pos: torch.Tensor, q_cand: torch.Tensor,
    bought: tuple[torch.Tensor, torch.Tensor], temperature: float,
) -> torch.Tensor:
    """Mean cross-entropy of each positive (class 0) against the shared candidates, less the
    (positive, candidate) pairs in `bought`.

    1 / T is folded into p; the [positives x candidates] logits live only inside
    `masked_logsumexp`, which passes over them a few times instead of about ten."""
    p = F.normalize(p, dim=-1) / temperature
    pos = (p * F.normalize(q_pos, dim=-1)).sum(-1)
    # log(e^pos + sum e^neg) - pos
    return (torch.logaddexp(pos, masked_logsumexp(p, F.normalize(q_cand, dim=-1), *bought))
            - pos).mean()


def _own_negatives_loss(
    p: torch.Tensor, q_pos: torch.Tensor, q_neg: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean cross-entropy of each positive against its own negatives (q_neg [n, k, d])."""
    p = F.normalize(p, dim=-1) / temperature
    neg = torch.einsum("bd,bkd->bk", p, F.normalize(q_neg, dim=-1))
    pos = (p * F.normalize(q_pos, dim=-1)).sum(-1)
    return (torch.logaddexp(pos, torch.logsumexp(neg, dim=1)) - pos).mean()


def _shared_candidates(negatives: np.ndarray, most: int) -> np.ndarray:
    """The first `most` distinct SKUs among a step's uniform draws (a uniform subset), sorted."""
    cand, first = np.unique(negatives.ravel(), return_index=True)
    if len(cand) > most:
        cand = np.sort(cand[np.argsort(first)[:most]])
    return cand


def _bought_pairs(
    rows: sp.csr_matrix, users: np.ndarray, cand: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions in `users`, positions in `cand`) of each customer's bought candidates.

    From the customers' sparse rows: O(their purchases), never [users, n_items]."""
    where = np.full(rows.shape[1], -1, dtype=np.int64)
    where[cand] = np.arange(len(cand))
    sub = rows[users]
    r = np.repeat(np.arange(len(users)), np.diff(sub.indptr))
    c = where[sub.indices]
    keep = c >= 0
    return _index(r[keep], device), _index(c[keep], device)


def _bought(
    rows: sp.csr_matrix, users: np.ndarray, cand: np.ndarray, device: torch.device
) -> torch.Tensor:
    """Bool [len(users), len(cand)]: did the customer of each positive buy each candidate."""
    mask = torch.zeros(len(users), len(cand), dtype=torch.bool, device=device)
    mask[_bought_pairs(rows, users, cand, device)] = True
    return mask
