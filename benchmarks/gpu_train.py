"""Train DMF with its defaults on a GPU (or CPU) and print epoch times and metrics.

    python -m benchmarks.gpu_train --data PATH --format movielens --protocol loo [--device cuda]

Meant for the device tool: it needs only torch, numpy, scipy and tqdm, which the GPU image has.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from model.datasets import load
from model.evaluation import evaluate
from model.harness import build_split
from model.recommender import DMF


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--format", default="movielens")
    p.add_argument("--protocol", default="loo")
    p.add_argument("--value", default="log1p")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int)
    args = p.parse_args()
    data = load(args.data, args.format)
    split = build_split(data, args.protocol, value=args.value)
    overrides = {"epochs": args.epochs} if args.epochs else {}
    model = DMF(device=args.device, **overrides)
    started = time.perf_counter()
    model.fit(split.train.matrix, progress=False)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    fit = time.perf_counter() - started
    metrics = ("HR", "NDCG") if args.protocol == "loo" else ("Recall", "NDCG", "HR")
    result = {
        "device": torch.cuda.get_device_name() if model.device.type == "cuda" else "cpu",
        "data": args.data,
        "protocol": args.protocol,
        "shape": list(split.train.matrix.shape),
        "nnz": int(split.train.matrix.nnz),
        "epochs": model.config.epochs, "members": model.config.members,
        "epoch_seconds": [round(h["seconds"], 3) for h in model.history],  # member by member
        "fit_seconds": round(fit, 2),
        **{k: round(v, 4) for k, v in evaluate(model, split, 10, metrics=metrics).items()},
    }
    if model.device.type == "cuda":
        result["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
