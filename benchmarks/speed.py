"""Speed and memory: DMF's time per epoch, time to its reported quality and peak memory,
beside every baseline's fit, on ML-100K, Online Retail and a synthetic shop at 1x and 10x.

    python -m benchmarks.speed [--data-root ../shared/data] [--only ml100k,retail,synth,synth10x]

Each (data set, model) fit runs in a fresh child process, so its peak resident memory
(`ru_maxrss`) is its own; "fit MiB" is that peak minus the resident memory just before the fit
(data loaded, libraries imported). DMF trains with its defaults (all its epochs) on the real data,
the fit the quality table reports. On the synthetic shops DMF runs its first `SYNTH_STEPS`
optimizer steps (defaults, sampled-softmax batches) and the time per epoch is extrapolated
from them (steps per epoch x seconds per step, a step of every member of the ensemble;
"fit s" is the default number of such epochs): a step's cost and
memory do not change along an epoch, and a full 10x epoch takes too long on 2 cores.
The 10x shop has 10x the customers, SKUs and purchases of the 1x one, so customers x SKUs
grows 100x: a model that builds dense rows would grow 100x, DMF (sparse bags) grows with the
purchases.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import cpu

SUITES = {
    "ml100k": ("ml-100k/u.data", "movielens", None),
    "retail": ("online-retail", "online-retail", None),
    "synth": (None, "synthetic", (20_000, 2_000)),
    "synth10x": (None, "synthetic", (200_000, 20_000)),
}
MODELS = ("dmf", "pop", "itemknn", "ease", "als", "bpr")
SYNTH_STEPS = 20
EASE_MAX_SKUS = 10_000  # EASE inverts a dense SKUs x SKUs matrix: 20k SKUs is 3.2 GB + O(n^3)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(suite: str, model_name: str, data_root: Path) -> dict:
    """Fit one model on one data set in this process; returns its figures."""
    from model.datasets import load
    from model.datasets.synthetic import synthetic_shop
    from model.harness import default_factories

    rel, fmt, synth = SUITES[suite]
    if synth:
        purchases = synthetic_shop(n_customers=synth[0], n_skus=synth[1],
                                   purchases_per_customer=20)
    else:
        purchases = load(data_root / rel, fmt)
    matrix = purchases.to_interactions(value="log1p").matrix
    if model_name == "dmf" and synth:
        return _dmf_steps(suite, matrix)
    if model_name == "dmf":
        from model.recommender import DMF

        model = DMF()
    else:
        model = default_factories()[model_name](0)
    before = _current_rss_mib()
    started = time.perf_counter()
    model.fit(matrix, progress=False) if model_name == "dmf" else model.fit(matrix)
    seconds = time.perf_counter() - started
    row = {"suite": suite, "model": model_name, "users": matrix.shape[0],
           "skus": matrix.shape[1], "nnz": int(matrix.nnz), "fit_seconds": round(seconds, 2),
           "peak_mib": round(_rss_mib(), 1), "fit_mib": round(_rss_mib() - before, 1)}
    if model_name == "dmf":
        epochs = [h["seconds"] for h in model.history]
        row["epochs"] = len(epochs)
        row["s_per_epoch"] = round(sum(epochs[1:]) / max(len(epochs) - 1, 1), 2)  # warm
    return row


def _dmf_steps(suite: str, matrix) -> dict:
    """Time `SYNTH_STEPS` training steps of DMF's defaults; extrapolate an epoch and a fit."""
    import math

    import numpy as np
    import torch

    from model.recommender import DMF

    model = DMF()
    cfg = model.config
    torch.manual_seed(cfg.seed)
    before = _current_rss_mib()
    model.nets = [model._network(matrix.shape) for _ in range(cfg.members)]
    model.set_matrix(matrix)
    optimizers = [torch.optim.Adam(net.parameters(), lr=cfg.lr) for net in model.nets]
    samples, size = model.epoch_samples(np.random.default_rng(cfg.seed))
    per_epoch = math.ceil(len(samples[0]) / size)
    started = time.perf_counter()
    for step in range(min(SYNTH_STEPS, per_epoch)):  # a step of every member, as in an epoch
        lo, hi = step * size, (step + 1) * size
        for net, optimizer in zip(model.nets, optimizers, strict=True):
            model.train_step(optimizer, *(a[lo:hi] for a in samples), net=net)
    per_step = (time.perf_counter() - started) / min(SYNTH_STEPS, per_epoch)
    return {"suite": suite, "model": "dmf", "users": matrix.shape[0], "skus": matrix.shape[1],
            "nnz": int(matrix.nnz), "fit_seconds": round(per_step * per_epoch * cfg.epochs, 1),
            "peak_mib": round(_rss_mib(), 1), "fit_mib": round(_rss_mib() - before, 1),
            "s_per_epoch": round(per_step * per_epoch, 2), "steps_per_epoch": per_epoch,
            "s_per_step": round(per_step, 3), "extrapolated": True}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--only", default=",".join(SUITES))
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--json", type=Path)
    p.add_argument("--one", nargs=2, metavar=("SUITE", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.data_root)))
        return
    rows = []
    print("| data | model | customers x SKUs | purchases | fit s | s/epoch | peak MiB | "
          "fit MiB |\n|---|---|---|---|---|---|---|---|", flush=True)
    for suite in args.only.split(","):
        for name in args.models.split(","):
            if name == "ease" and SUITES[suite][2] and SUITES[suite][2][1] > EASE_MAX_SKUS:
                print(f"| {suite} | ease | skipped: dense {SUITES[suite][2][1]:,}^2 Gram "
                      "matrix | | | | | |", flush=True)
                continue
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.speed", "--data-root", str(args.data_root),
                 "--one", suite, name], capture_output=True, text=True, timeout=7200)
            if done.returncode != 0:
                print(f"| {suite} | {name} | failed: {done.stderr.strip()[-200:]} |", flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            mark = " (from steps)" if row.get("extrapolated") else ""
            print(f"| {suite} | {name} | {row['users']:,} x {row['skus']:,} | {row['nnz']:,} | "
                  f"{row['fit_seconds']}{mark} | {row.get('s_per_epoch', '')}{mark} | "
                  f"{row['peak_mib']} | {row['fit_mib']} |", flush=True)
    print(f"\nmachine: {platform.machine()}, {cpu()}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
