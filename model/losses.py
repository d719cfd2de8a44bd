"""DMF's losses: normalized cross-entropy ("nce") and plain binary cross-entropy ("bce").

nce: the target of an observed entry is Y_ij / max(R) with the global max(R), negatives 0
(the paper's choice, keeping the rating's magnitude). bce: targets are 1/0. Predictions are
cosines clipped to [mu, 1 - mu] so the logs stay finite.
"""

from __future__ import annotations

import torch

MU = 1e-6


def cosine(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine, with the norm guarded so a zero vector scores 0, not NaN."""
    return (p * q).sum(-1) / (p.norm(dim=-1) * q.norm(dim=-1)).clamp_min(1e-12)


def targets(values: torch.Tensor, kind: str, max_rating: float) -> torch.Tensor:
    """Targets from interaction values (0 for negatives)."""
    if kind == "nce":
        return values / max_rating
    if kind == "bce":
        return (values > 0).to(values.dtype)
    raise ValueError(f"unknown loss {kind!r}; choose 'nce' or 'bce'")


def cross_entropy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of -(t log y + (1 - t) log(1 - y)), y clipped at mu."""
    y = pred.clamp(MU, 1.0 - MU)
    return -(target * torch.log(y) + (1.0 - target) * torch.log(1.0 - y)).mean()
