"""Speed and memory: DMF's fit before and after issue #14, beside every baseline's fit, on
ML-100K, Online Retail and a synthetic shop at 1x and 10x, all in one run.

    python -m benchmarks.speed [--data-root ../shared/data] [--only ml100k,retail,synth,synth10x]
        [--models dmf-before,dmf,pop,itemknn,ease,als,bpr]

`dmf-before` is the configuration of the defaults before issue #14 (`BEFORE`: 5 networks
512 -> 256 trained 8 epochs each, no early stopping), on today's code; `dmf` is today's
defaults fitted as `dmfrec train` fits them: the latest purchase of up to 5,000 customers held
out (`model.validation.stopping_split`), each network stopped early on it and the ensemble's
size chosen on it (a network that brings no gain is dropped and ends it), training's
products in bf16 where the CPU has it (`precision="auto"`), then the whole matrix served.

Each (data set, model) fit runs in a fresh child process, so its peak resident memory
(`ru_maxrss`) is its own; "fit MiB" is that peak minus the resident memory just before the fit
(data loaded, libraries imported). On the synthetic shops DMF runs its first `SYNTH_STEPS`
optimizer steps of each network and the fit is extrapolated (marked): steps per epoch x
seconds per step x members x epochs, with `dmf` counted at its full `epochs` per member (an
upper bound: early stopping only shortens it). A step's cost and memory do not change along
an epoch, and a full 10x fit of the old configuration takes hours on 2 cores.
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
MODELS = ("dmf-before", "dmf", "pop", "itemknn", "ease", "als", "bpr")
# The defaults before issue #14 (model.recommender.DMFConfig at that commit), on today's code.
BEFORE = {"members": 5, "epochs": 8, "user_layers": (512, 256), "item_layers": (512, 256),
          "lr": 5e-4, "shared_negatives": 1024, "batch_size": 16384, "precision": "fp32"}
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
    inter = purchases.to_interactions(value="log1p")
    matrix = inter.matrix
    dmf = model_name.startswith("dmf")
    if dmf and synth:
        return _dmf_steps(suite, model_name, matrix)
    if dmf:
        from model.recommender import DMF
        from model.validation import stopping_split

        model = DMF(**(BEFORE if model_name == "dmf-before" else {}))
    else:
        model = default_factories()[model_name](0)
    before = _current_rss_mib()
    started = time.perf_counter()
    if model_name == "dmf":  # as `dmfrec train`: stop on a held-out slice, serve everything
        train, stop_on = stopping_split(inter)
        model.fit(train, progress=False, validation=stop_on)
        model.set_matrix(matrix)
    elif dmf:
        model.fit(matrix, progress=False)
    else:
        model.fit(matrix)
    seconds = time.perf_counter() - started
    row = {"suite": suite, "model": model_name, "users": matrix.shape[0],
           "skus": matrix.shape[1], "nnz": int(matrix.nnz), "fit_seconds": round(seconds, 2),
           "peak_mib": round(_rss_mib(), 1), "fit_mib": round(_rss_mib() - before, 1)}
    if dmf:
        epochs = [h["seconds"] for h in model.history]
        row["epochs"] = len(epochs)  # over all members
        row["s_per_epoch"] = round(sum(epochs) / max(len(epochs), 1), 2)
    return row


def _dmf_steps(suite: str, model_name: str, matrix) -> dict:
    """Time `SYNTH_STEPS` training steps of each network; extrapolate an epoch and a fit."""

    import numpy as np
    import torch

    from model.recommender import DMF

    model = DMF(**(BEFORE if model_name == "dmf-before" else {}))
    cfg = model.config
    torch.manual_seed(cfg.seed)
    before = _current_rss_mib()
    model.nets = [model._network(matrix.shape) for _ in range(cfg.members)]
    model.set_matrix(matrix)
    optimizers = [torch.optim.Adam(net.parameters(), lr=cfg.lr) for net in model.nets]
    batches = model.epoch_batches(np.random.default_rng(cfg.seed))
    per_epoch = model.steps_per_epoch()
    steps = min(SYNTH_STEPS, per_epoch)
    started = time.perf_counter()
    for _, batch in zip(range(steps), batches, strict=False):  # a step of every member
        for net, optimizer in zip(model.nets, optimizers, strict=True):
            model.train_step(optimizer, *batch, net=net)
    per_step = (time.perf_counter() - started) / steps
    return {"suite": suite, "model": model_name, "users": matrix.shape[0],
            "skus": matrix.shape[1], "nnz": int(matrix.nnz),
            "fit_seconds": round(per_step * per_epoch * cfg.epochs, 1),
            "peak_mib": round(_rss_mib(), 1), "fit_mib": round(_rss_mib() - before, 1),
            "s_per_epoch": round(per_step * per_epoch / cfg.members, 2),
            "epochs": cfg.epochs * cfg.members, "steps_per_epoch": per_epoch,
            "s_per_step": round(per_step / cfg.members, 3), "extrapolated": True}


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
    rows: list[dict] = []
    print("| data | model | customers x SKUs | purchases | fit s | epochs (all networks) | "
          "s/epoch | peak MiB | fit MiB |\n|---|---|---|---|---|---|---|---|---|", flush=True)
    for suite in args.only.split(","):
        for name in args.models.split(","):
            if name == "ease" and SUITES[suite][2] and SUITES[suite][2][1] > EASE_MAX_SKUS:
                print(f"| {suite} | ease | skipped: dense {SUITES[suite][2][1]:,}^2 Gram "
                      "matrix | | | | | | |", flush=True)
                continue
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.speed", "--data-root", str(args.data_root),
                 "--one", suite, name], capture_output=True, text=True, timeout=7200)
            if done.returncode != 0:
                print(f"| {suite} | {name} | failed: {done.stderr.strip()[-200:]} |", flush=True)
                continue
            rows.append(row := json.loads(done.stdout.strip().splitlines()[-1]))
            print(_line(row), flush=True)
    print(_ratios(rows), f"\nmachine: {platform.machine()}, {cpu()}", sep="\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def _line(row: dict) -> str:
    mark = " (from steps)" if row.get("extrapolated") else ""
    return (f"| {row['suite']} | {row['model']} | {row['users']:,} x {row['skus']:,} | "
            f"{row['nnz']:,} | {row['fit_seconds']}{mark} | {row.get('epochs', '')} | "
            f"{row.get('s_per_epoch', '')}{mark} | {row['peak_mib']} | {row['fit_mib']} |")


def _ratios(rows: list[dict]) -> str:
    """Per data set: the old DMF's fit time over the new one's, and each over ALS's."""
    lines = ["", "| data | dmf-before / dmf fit time | dmf-before / ALS | dmf / ALS |",
             "|---|---|---|---|"]
    for suite in dict.fromkeys(r["suite"] for r in rows):
        fit = {r["model"]: r["fit_seconds"] for r in rows if r["suite"] == suite}
        cells = [fit[a] / fit[b] if fit.get(a) and fit.get(b) else None
                 for a, b in (("dmf-before", "dmf"), ("dmf-before", "als"), ("dmf", "als"))]
        lines.append(f"| {suite} | " + " | ".join(
            f"{c:.1f}x" if c is not None else "" for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
