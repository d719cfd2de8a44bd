"""Warm-started against cold nightly retrain, on the Online Retail time split, in one run.

    python -m benchmarks.warm_start [--data-root ../shared/data] [--members N] [--days 7]

The split's validation part (the window before the test cut-off, `model.validation`) judges
both. The "active" model is a cold fit on the purchases up to `--days` before the
validation window (last week's model); then, on the purchases up to the window:
- cold: the defaults from scratch, stopped early on the validation window;
- warm: the same, starting from the active model's weights (`DMF.fit(warm_start=...)`).
Prints each run's validation NDCG@10 per epoch with the seconds so far, the cold run's best,
and how long the warm run took to reach it, as a share of the cold run's time. The test
window is never scored.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import cpu

DAY = 86_400


def _curve(model) -> list[tuple[float, float]]:
    """(seconds so far, validation NDCG@10) after each epoch, members in training order."""
    out, total = [], 0.0
    for h in model.history:
        total += h["seconds"]
        out.append((round(total, 1), round(h["val_ndcg"], 4)))
    return out


def main() -> None:
    from model.datasets import load
    from model.harness import build_splits
    from model.recommender import DMF
    from model.splits import default_cutoff

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--members", type=int, default=0, help="0: the defaults' member count")
    p.add_argument("--days", type=float, default=7.0, help="age of the active model")
    args = p.parse_args()
    over = {"members": args.members} if args.members else {}

    data = load(args.data_root / "online-retail", "online-retail")
    _, val = build_splits(data, "time")
    cutoff = default_cutoff(data)
    window = int(data.ordered_at.max()) - cutoff
    val_start = cutoff - window
    older = data.ordered_at < val_start - int(args.days * DAY)
    # Last week's model, in the validation split's index (customers and SKUs it had not seen
    # yet keep empty rows and columns, and fresh first-layer rows when warm-started).
    index = (val.train.user_ids, val.train.item_ids)
    old_matrix = data.select(older).to_interactions("log1p", *index).matrix
    started = time.perf_counter()
    active = DMF(**over).fit(old_matrix, progress=False)
    active_s = time.perf_counter() - started
    rows = np.arange(val.train.shape[0])
    cols = np.arange(val.train.shape[1])
    runs = {}
    for name, warm in (("cold", None), ("warm", (active, rows, cols))):
        started = time.perf_counter()
        model = DMF(**over).fit(val.train.matrix, progress=False, validation=val,
                                warm_start=warm)
        runs[name] = {"seconds": round(time.perf_counter() - started, 1),
                      "best": round(max(h["val_ndcg"] for h in model.history), 4),
                      "curve": _curve(model)}
    target = runs["cold"]["best"]
    reached = next((s for s, v in runs["warm"]["curve"] if v >= target), None)
    for name, run in runs.items():
        print(f"{name}: {run['seconds']} s, best validation NDCG@10 {run['best']}; "
              f"(s, NDCG@10) per epoch: {run['curve']}", flush=True)
    share = None if reached is None else round(reached / runs["cold"]["seconds"], 3)
    print(f"active model (purchases up to {args.days:g} days before the validation window): "
          f"{active_s:.1f} s\nwarm reached the cold run's best ({target}) after "
          f"{reached} s = {share} of the cold run's time; warm with early stopping: "
          f"{runs['warm']['seconds'] / runs['cold']['seconds']:.3f} of it", flush=True)
    print(f"machine: {platform.machine()}, {cpu()}; config overrides {json.dumps(over)}")


if __name__ == "__main__":
    main()
