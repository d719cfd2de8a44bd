"""One DMF training step, four ways, interleaved step by step in one process so that they
share the machine's load: fp32 or bf16 products, and the softmax normaliser as the plain
autograd chain (`masked_fill` + `logsumexp`, the code before issue #14's rewrite) or as
`model.logsumexp.masked_logsumexp`.

    python -m benchmarks.step_time [--data ml100k|retail|amusic] [--steps 9]

Trains on the data set's validation training part (as the validation sweeps do), one
network, the default objective. Prints each variant's median seconds a step (the first step,
which allocates Adam's state, left out) and its speed-up over fp32 with the chain.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from benchmarks.machine import cpu

SETS = {"ml100k": ("ml-100k/u.data", "movielens", "full"),
        "retail": ("online-retail", "online-retail", "time"),
        "amusic": ("amazon-music", "ncf", "loo")}


def chain_loss(p, q_pos, q_cand, bought, temperature):
    """The normaliser as a chain of autograd ops: a dense mask, masked_fill, logsumexp."""
    mask = torch.zeros(p.shape[0], q_cand.shape[0], dtype=torch.bool, device=p.device)
    mask[bought] = True
    p = F.normalize(p, dim=-1) / temperature
    neg = (p @ F.normalize(q_cand, dim=-1).T).masked_fill_(mask, float("-inf"))
    pos = (p * F.normalize(q_pos, dim=-1)).sum(-1)
    return (torch.logaddexp(pos, torch.logsumexp(neg, dim=1)) - pos).mean()


def main() -> None:
    import model.softmax as softmax
    from model.datasets import load
    from model.harness import build_splits
    from model.recommender import DMF

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--data", choices=SETS, default="ml100k")
    p.add_argument("--steps", type=int, default=9)
    args = p.parse_args()
    rel, fmt, protocol = SETS[args.data]
    _, val = build_splits(load(args.data_root / rel, fmt), protocol)
    matrix = sp.csr_matrix(val.train.matrix, dtype=np.float32)
    fused = softmax._logits_loss
    variants = {}
    for precision in ("fp32", "bf16"):
        for tail, loss in (("chain", chain_loss), ("masked_logsumexp", fused)):
            model = DMF(members=1, precision=precision)
            torch.manual_seed(0)  # the same initial network for every variant
            model.nets = [model._network(matrix.shape)]
            model.set_matrix(matrix)
            optimizer = torch.optim.Adam(model.net.parameters(), lr=model.config.lr)
            batches = list(model.epoch_batches(np.random.default_rng(0)))[: args.steps]
            variants[f"{precision}, {tail}"] = (model, optimizer, batches, loss)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for step in range(args.steps):
        for name, (model, optimizer, batches, loss) in variants.items():
            softmax._logits_loss = loss
            started = time.perf_counter()
            model.train_step(optimizer, *batches[step % len(batches)])
            seconds[name].append(time.perf_counter() - started)
    softmax._logits_loss = fused
    base = float(np.median(seconds["fp32, chain"][1:]))
    print(f"| {args.data}: one step | median s | speed-up over fp32, chain |\n|---|---|---|")
    for name, times in seconds.items():
        median = float(np.median(times[1:]))
        print(f"| {name} | {median:.3f} | {base / median:.2f}x |")
    print(f"\nmachine: {platform.machine()}, {cpu()}, {torch.get_num_threads()} torch threads")


if __name__ == "__main__":
    main()
