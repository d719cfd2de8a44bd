"""The promotion gate: a retrained candidate replaces the active model only if it is not worse.

Both models are judged on the same time holdout: the purchases of the last
``DMFREC_GATE_HOLDOUT_DAYS`` days. The candidate is trained on the window ending at that
cutoff; each test customer's purchases before the cutoff are folded into both models (DMF takes
the purchase row as input, so no retraining is needed for the active one), and each model's
top-K is checked against the SKUs the customer bought for the first time after the cutoff
(Recall@K, K = ``DMFREC_TOP_N``). The active model may have been trained on part of the
holdout, so the comparison leans towards keeping it: the gate is conservative.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from model.interactions import Interactions


@dataclass
class Holdout:
    """Test customers' rows before the cutoff (ids and SKUs as strings) and their new SKUs."""

    customers: list[str]
    rows: sp.csr_matrix  # customers x skus, values as training uses them
    skus: list[str]
    targets: list[set[str]]

    def __len__(self) -> int:
        return len(self.customers)


@dataclass
class Verdict:
    promote: bool
    reason: str
    metric: str
    candidate: float | None
    active: float | None
    n_customers: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_holdout(before: Interactions, after: Interactions) -> Holdout:
    """Customers who bought before the cutoff and bought new SKUs after it."""
    before_rows = {str(c): k for k, c in enumerate(before.user_ids.tolist())}
    before_skus = [str(s) for s in before.item_ids.tolist()]
    after_skus = np.array([str(s) for s in after.item_ids.tolist()], dtype=object)
    customers, picked, targets = [], [], []
    for k, customer in enumerate(str(c) for c in after.user_ids.tolist()):
        row = before_rows.get(customer)
        if row is None:
            continue
        seen = {before_skus[j] for j in before.matrix[row].indices}
        new = {str(s) for s in after_skus[after.matrix[k].indices]} - seen
        if new:
            customers.append(customer)
            picked.append(row)
            targets.append(new)
    rows = before.matrix[np.asarray(picked, dtype=np.int64)] if picked else \
        sp.csr_matrix((0, before.matrix.shape[1]), dtype=np.float32)
    return Holdout(customers, sp.csr_matrix(rows), before_skus, targets)


def recall_at_k(model, skus: list[str], holdout: Holdout, k: int, block: int = 1024
                ) -> float | None:
    """Mean over test customers of |top-k ∩ new SKUs| / min(k, |new SKUs|); None without any
    (never NaN: the figure is stored as JSON, where NaN is invalid).

    `model` ranks its own catalog (`skus`); the holdout's rows are re-indexed to it, SKUs it
    does not know being dropped (they have no weights).
    """
    if len(holdout) == 0:
        return None
    index = {s: j for j, s in enumerate(skus)}
    mapping = np.array([index.get(s, -1) for s in holdout.skus], dtype=np.int64)
    coo = holdout.rows.tocoo()
    keep = mapping[coo.col] >= 0
    rows = sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], mapping[coo.col[keep]])),
        shape=(len(holdout), len(skus)), dtype=np.float32,
    )
    q = model.item_vectors()
    kk = min(k, len(skus))
    total = 0.0
    for lo in range(0, len(holdout), block):
        users = np.arange(lo, min(lo + block, len(holdout)))
        scores = model.user_vectors(users, rows) @ q.T
        sub = rows[users].tocoo()
        scores[torch.from_numpy(sub.row.astype(np.int64)).to(scores.device),
               torch.from_numpy(sub.col.astype(np.int64)).to(scores.device)] = -torch.inf
        top = torch.topk(scores, kk, dim=1).indices.cpu().numpy()
        for u, items in zip(users, top, strict=True):
            wanted = holdout.targets[u]
            hits = sum(1 for j in items if skus[j] in wanted)
            total += hits / min(kk, len(wanted))
    return total / len(holdout)


def judge(candidate: float | None, active: float | None, n_customers: int, tolerance: float,
          metric: str) -> Verdict:
    """Promote when there is nothing to beat, or the candidate is within `tolerance` (relative)
    of the active model or better. With no test customers the active model stays."""
    if active is None:
        return Verdict(True, "no active model", metric, candidate, None, n_customers)
    if n_customers == 0 or candidate is None:
        return Verdict(False, "no holdout purchases to judge by; the active model stays",
                       metric, None, active, 0)
    if candidate >= active * (1.0 - tolerance):
        return Verdict(True, f"candidate {candidate:.4f} >= active {active:.4f} "
                       f"x (1 - {tolerance:g})", metric, candidate, active, n_customers)
    return Verdict(False, f"candidate {candidate:.4f} < active {active:.4f} x (1 - {tolerance:g})",
                   metric, candidate, active, n_customers)
