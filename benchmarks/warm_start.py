"""Warm-started against cold nightly retrain, on the Online Retail time split, in one run.

    python -m benchmarks.warm_start [--data-root ../shared/data] [--members N] [--days 7]
        [--seeds 1]

The split's validation part (the window before the test cut-off, `model.validation`) judges
both. The "active" model is a cold fit on the purchases up to `--days` before the
validation window (last week's model); then, on the purchases up to the window:
- cold: the defaults from scratch, stopped early on the validation window;
- warm: the same, starting from the active model's weights (`DMF.fit(warm_start=...)`).
Prints each run's validation NDCG@10 per epoch with the seconds so far, the cold run's best,
and how long the warm run took to reach it, as a share of the cold run's time. With
`--seeds N` both retrains run with seeds 0..N-1 (one active model): one run's best and stopping
time swing with its seed (0.117-0.121 and 87-230 s at stop 25), so the means and spreads are
printed too. The test window is never scored.
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


def _pair(val, over: dict, seed: int, warm) -> dict[str, dict]:
    """A cold and a warm retrain with this seed, each stopped early on the validation split."""
    from model.recommender import DMF

    runs = {}
    for name, start in (("cold", None), ("warm", warm)):
        started = time.perf_counter()
        model = DMF(**over, seed=seed).fit(val.train.matrix, progress=False, validation=val,
                                           warm_start=start)
        runs[name] = {"seconds": round(time.perf_counter() - started, 1),
                      "best": round(max(h["val_ndcg"] for h in model.history), 4),
                      "networks": len(model.nets), "curve": _curve(model)}
    return runs


def _reached(runs: dict) -> float | None:
    """Seconds (training epochs only) until the warm run first reached the cold run's best."""
    target = runs["cold"]["best"]
    return next((s for s, v in runs["warm"]["curve"] if v >= target), None)


def _report(runs: dict) -> None:
    for name, run in runs.items():
        print(f"  {name}: {run['seconds']} s, {run['networks']} networks, best validation "
              f"NDCG@10 {run['best']}; (s, NDCG@10) per epoch: {run['curve']}", flush=True)
    reached = _reached(runs)
    share = None if reached is None else round(reached / runs["cold"]["seconds"], 3)
    print(f"  warm reached the cold run's best ({runs['cold']['best']}) after {reached} s = "
          f"{share} of the cold run's time; warm with early stopping: "
          f"{runs['warm']['seconds'] / runs['cold']['seconds']:.3f} of it", flush=True)


def _summary(pairs: list[dict]) -> None:
    """Means and spreads over the seeds: the figures to compare."""
    for name in ("cold", "warm"):
        best = np.array([r[name]["best"] for r in pairs])
        secs = np.array([r[name]["seconds"] for r in pairs])
        print(f"{name} over {len(pairs)} seeds: best validation NDCG@10 mean {best.mean():.4f} "
              f"(min {best.min():.4f}, max {best.max():.4f}); seconds mean {secs.mean():.1f} "
              f"(min {secs.min():.1f}, max {secs.max():.1f})", flush=True)
    cold = np.mean([r["cold"]["seconds"] for r in pairs])
    warm = np.mean([r["warm"]["seconds"] for r in pairs])
    gap = np.mean([r["warm"]["best"] - r["cold"]["best"] for r in pairs])
    print(f"warm - cold best, mean of the seeds' differences: {gap:+.4f}; warm's mean time "
          f"{warm / cold:.3f} of the cold mean", flush=True)


def main() -> None:
    from model.datasets import load
    from model.harness import build_splits
    from model.recommender import DMF
    from model.splits import default_cutoff

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--members", type=int, default=0, help="0: the defaults' member count")
    p.add_argument("--days", type=float, default=7.0, help="age of the active model")
    p.add_argument("--seeds", type=int, default=1, help="retrain pairs, seeds 0..N-1")
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
    pairs = []
    for seed in range(args.seeds):
        pairs.append(_pair(val, over, seed, (active, rows, cols)))
        print(f"seed {seed}:", flush=True)
        _report(pairs[-1])
    print(f"active model (purchases up to {args.days:g} days before the validation window): "
          f"{active_s:.1f} s", flush=True)
    if args.seeds > 1:
        _summary(pairs)
    print(f"machine: {platform.machine()}, {cpu()}; config overrides {json.dumps(over)}")


if __name__ == "__main__":
    main()
