"""Quality benchmark: DMF (defaults) against every baseline, same split, same run.

    python -m benchmarks.quality [--data-root ../shared/data] [--only ml100k-loo,...]

Prints one table per data set/protocol and a markdown block for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from model.datasets import load
from model.harness import format_table, run_evaluation

SUITES = {
    "ml100k-loo": ("ml-100k/u.data", "movielens", "loo"),
    "ml100k-full": ("ml-100k/u.data", "movielens", "full"),
    "amusic-loo": ("amazon-music", "ncf", "loo"),
    "retail-time": ("online-retail", "online-retail", "time"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--only", default=",".join(SUITES))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    results = {}
    for name in args.only.split(","):
        rel, fmt, protocol = SUITES[name]
        data = load(args.data_root / rel, fmt)
        rows = run_evaluation(data, protocol, progress=False)
        results[name] = rows
        print(f"\n## {name} ({fmt}, protocol {protocol})\n{format_table(rows)}", flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
