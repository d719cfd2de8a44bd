"""The sampled softmax's normaliser, log sum_k exp(p_n . q_k) over each positive's unbought
candidates, with its gradient, in as few passes over the [positives x candidates] matrix as
it takes.

The plain autograd chain (a product, `masked_fill`, `logsumexp`, and their backwards) reads
and writes that matrix about ten times, and on a CPU those elementwise passes cost more than
the product itself (BENCHMARKS.md, issue #14). Here the forward computes the product, writes
-inf at the bought pairs (sparse, not a dense mask), and turns it in place into
exp(logit - row max), which is kept: the backward's gradient is that matrix times
g / row sum, one pass, then the two products. Same value and gradient as the chain.
"""

from __future__ import annotations

import torch


class _MaskedLogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p: torch.Tensor, q: torch.Tensor, rows: torch.Tensor,
                cols: torch.Tensor) -> torch.Tensor:
        device = p.device.type
        # Under autocast the product runs in its lower precision, as a plain `p @ q.T` would.
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) \
            else p.dtype
        p_, q_ = p.to(dtype), q.to(dtype)
        e = p_ @ q_.T
        e[rows, cols] = float("-inf")
        # A row whose candidates were all bought has max -inf: a finite max keeps it 0, not NaN.
        m = e.amax(1, keepdim=True).clamp_min_(torch.finfo(e.dtype).min)
        e.sub_(m).exp_()
        out = torch.promote_types(p.dtype, torch.float32)  # sums in fp32 at least
        s = e.sum(1, dtype=out)
        ctx.save_for_backward(p_, q_, e, s)
        ctx.dtypes = (p.dtype, q.dtype)
        return m.squeeze(1).to(out) + s.log()

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        p_, q_, e, s = ctx.saved_tensors
        # softmax x g, in place: the kept exponentials are not needed again (one backward).
        grad = e.mul_((g / s.clamp_min(torch.finfo(s.dtype).tiny)).to(e.dtype)[:, None])
        return (grad @ q_).to(ctx.dtypes[0]), (grad.T @ p_).to(ctx.dtypes[1]), None, None


def masked_logsumexp(
    p: torch.Tensor, q: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """[n]: log sum_k exp(p[n] . q[k]) over k, leaving out the pairs (rows[i], cols[i])."""
    return _MaskedLogSumExp.apply(p, q, rows, cols)
