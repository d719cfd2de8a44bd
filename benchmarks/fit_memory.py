"""Fit memory per customer at shop scale: today's defaults beside the configuration before.

    python -m benchmarks.fit_memory [--customers 1000000] [--skus 50000] [--steps 3]

Each configuration trains one network for `--steps` steps in a fresh child process on the
synthetic shop of `benchmarks.scale`; its fit memory is the process's high-water mark (VmHWM)
after the steps minus its resident memory just before the network is built, the mark having
been reset after the data was generated (`/proc/self/clear_refs`), so the generator's
temporaries do not count. Every allocation of a fit happens by the second step (weights,
gradients, Adam's moments, a step's activations), so a few steps give the epoch's peak;
seconds per step are printed too (the epoch from them is an extrapolation).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = {
    "defaults": {},
    # This stop's two memory changes off: the full-width customer layer, unbounded steps.
    "before": {"item_rank": 0, "max_step_samples": 0},
}


def measure(customers: int, skus: int, steps: int, overrides: dict) -> dict:
    import numpy as np
    import torch

    from benchmarks.scale import _status_mib, synthetic_matrix
    from model.recommender import DMF

    matrix = synthetic_matrix(customers, skus, 20, seed=0)
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
        f.write("5")
    before = _status_mib("VmRSS")
    model = DMF(members=1, epochs=1, **overrides)
    model.nets = [model._network(matrix.shape)]
    model.set_matrix(matrix)
    net = model.nets[0]
    optimizer = torch.optim.Adam(net.parameters(), lr=model.config.lr, fused=True)
    rng = np.random.default_rng(0)
    times = []
    for i, batch in enumerate(model.epoch_batches(rng)):
        started = time.perf_counter()
        model.train_step(optimizer, *batch, net=net, rng=rng)
        times.append(time.perf_counter() - started)
        if i + 1 >= steps:
            break
    fit = _status_mib("VmHWM") - before
    return {"customers": customers, "skus": skus, "item_rank": net.item_tower.first.embedding_dim,
            "steps_per_epoch": model.steps_per_epoch(), "s_per_step": round(min(times), 2),
            "fit_mib": round(fit, 1), "kib_per_customer": round(fit * 1024 / customers, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--skus", type=int, default=50_000)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.customers, args.skus, args.steps, CONFIGS[args.child])))
        return
    from benchmarks.machine import cpu

    print("| configuration | item layer width | steps/epoch | s/step (fastest) | fit MiB "
          "| KiB per customer |\n|---|---|---|---|---|---|")
    for name in CONFIGS:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.fit_memory", "--child", name, "--customers",
             str(args.customers), "--skus", str(args.skus), "--steps", str(args.steps)],
            stdout=subprocess.PIPE, text=True, env=os.environ, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['item_rank']} | {r['steps_per_epoch']} | {r['s_per_step']} | "
              f"{r['fit_mib']:,.0f} | {r['kib_per_customer']} |", flush=True)
    print(f"\n{args.customers:,} customers x {args.skus:,} SKUs, ~20 purchases each; "
          f"{args.steps} steps each; machine: {cpu()}")


if __name__ == "__main__":
    main()
