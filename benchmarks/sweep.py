"""DMF configuration sweep on the benchmark sets' validation splits (never their test splits).

Each configuration trains on a validation split's training part, stops early on it and is
scored on it (`model.validation`); the figures are validation figures, fit for choosing
defaults. The test split is scored once per configuration shown in the quality table.

    python -m benchmarks.sweep --configs benchmarks/sweeps/softmax.txt [--parallel 8]
        [--suites retail,ml-full,ml-loo,am-loo] [--data-root ../shared/data] [--jsonl OUT]

A configs file holds one configuration a line: a name, a space, then DMFConfig overrides as
JSON. Configurations run in parallel child processes (2 torch threads each), which on a GPU
machine share the card; the s/epoch figures are then those of a shared card. Prints one JSON
line per (configuration, split) as it finishes, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SUITES = {
    "ml-full": ("ml-100k/u.data", "movielens", "full"),
    "ml-loo": ("ml-100k/u.data", "movielens", "loo"),
    "am-loo": ("amazon-music", "ncf", "loo"),
    "retail": ("online-retail", "online-retail", "time"),
}


def one(name: str, overrides: dict, suites: list[str], data_root: Path) -> None:
    """Fit and score one configuration on each split; one JSON line per split."""
    import torch

    from model.datasets import load
    from model.evaluation import evaluate
    from model.harness import build_splits
    from model.recommender import DMF

    torch.set_num_threads(2)
    for suite in suites:
        rel, fmt, protocol = SUITES[suite]
        # Validation only: the split carved from the training part; the test split is never
        # scored here (selection on it would make its figures no result).
        _, split = build_splits(load(data_root / rel, fmt), protocol, value="log1p")
        started = time.perf_counter()
        model = DMF(**overrides).fit(split.train.matrix, progress=False, validation=split)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        fit = time.perf_counter() - started
        warm = [h["seconds"] for h in model.history[1:]] or [fit]
        epochs = [int(h["epoch"]) for h in model.history]
        metrics = ("HR", "NDCG") if protocol == "loo" else ("Recall", "NDCG", "HR")
        scores = evaluate(model, split, 10, metrics=metrics)
        print(json.dumps({"name": name, "suite": suite, "device": str(model.device),
                          "fit_s": round(fit, 1), "s_epoch": round(sum(warm) / len(warm), 3),
                          "epochs_run": len(epochs), "split": "validation",
                          **{k: round(v, 4) for k, v in scores.items()}}), flush=True)


def table(results: list[dict]) -> str:
    names = list(dict.fromkeys(r["name"] for r in results))
    by = {(r["name"], r["suite"]): r for r in results}

    def cell(name: str, suite: str, *keys: str) -> str:
        r = by.get((name, suite))
        return " / ".join(f"{r[k]:.4f}" for k in keys) if r else "-"

    lines = ["| config | Retail R@10 / N@10 / HR@10 | ML full R@10 / N@10 | ML LOO HR / NDCG | "
             "AMusic HR / NDCG |", "|---|---|---|---|---|"]
    for n in names:
        lines.append(f"| {n} | {cell(n, 'retail', 'Recall@10', 'NDCG@10', 'HR@10')} | "
                     f"{cell(n, 'ml-full', 'Recall@10', 'NDCG@10')} | "
                     f"{cell(n, 'ml-loo', 'HR@10', 'NDCG@10')} | "
                     f"{cell(n, 'am-loo', 'HR@10', 'NDCG@10')} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", type=Path, required=True)
    p.add_argument("--suites", default=",".join(SUITES))
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--jsonl", type=Path)
    p.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    suites = args.suites.split(",")
    if unknown := set(suites) - set(SUITES):
        p.error(f"unknown suites {sorted(unknown)}; choose from {', '.join(SUITES)}")
    if args.one:
        one(args.one[0], json.loads(args.one[1]), suites, args.data_root)
        return
    configs = []
    for k, line in enumerate(args.configs.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            name, _, text = line.strip().partition(" ")
            try:
                configs.append((name, json.loads(text)))
            except json.JSONDecodeError as exc:
                p.error(f"{args.configs}:{k}: not JSON after the name: {exc}")
    results: list[dict] = []

    def run(config: tuple[str, dict]) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.sweep", "--configs", str(args.configs),
             "--suites", args.suites, "--data-root", str(args.data_root),
             "--one", config[0], json.dumps(config[1])],
            capture_output=True, text=True)
        for line in done.stdout.splitlines():
            results.append(json.loads(line))
            print(line, flush=True)
        if done.returncode:
            print(f"{config[0]} failed: {done.stderr.strip()[-300:]}", file=sys.stderr)

    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(run, configs))
    if args.jsonl:
        args.jsonl.write_text("".join(json.dumps(r) + "\n" for r in results))
    print(table(results))


if __name__ == "__main__":
    main()
