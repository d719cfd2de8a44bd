"""Quality benchmark: DMF (defaults) against every baseline, same split, same run.

    python -m benchmarks.quality [--data-root ../shared/data] [--only ml100k-loo,...]
        [--dmf-seeds 3] [--dmf dmf-before=before] [--dmf 'dmf-x={"members": 3}'] [--json OUT]

Honest selection (model.harness): baselines tuned and DMF stopped on a validation split carved
from the training part; the test split scored once per model. `--dmf NAME=JSON` adds DMF
variants (e.g. the previous defaults) as rows of the same run.

Prints one table per data set/protocol and a markdown block for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from model.datasets import load
from model.harness import MODELS, default_factories, format_table, run_evaluation

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
    p.add_argument("--json", type=Path, help="every row, written as soon as it is computed")
    p.add_argument("--dmf-seeds", type=int, default=3,
                   help="DMF's figures are the mean (and spread) of this many seeds")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--dmf", action="append", default=[], metavar="NAME=JSON",
                   help="also run DMF with these DMFConfig overrides, as its own row (e.g. "
                   "the previous defaults), in the same run")
    args = p.parse_args()
    results: dict[str, list[dict]] = {}
    factories = default_factories()
    variants = dict(v.split("=", 1) for v in args.dmf)
    if any(not label.startswith("dmf") for label in variants):
        p.error("--dmf names start with 'dmf' (dmf-previous=...), so they train as DMF does")
    for label, over in variants.items():
        factories[label] = _variant(label, over if over == "before" else json.loads(over))
    models = [*args.models.split(","), *variants]
    for name in args.only.split(","):
        rel, fmt, protocol = SUITES[name]
        data = load(args.data_root / rel, fmt)
        results[name] = []

        def keep(row: dict, name: str = name) -> None:
            results[name].append(row)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))

        rows = run_evaluation(data, protocol, models, progress=False, factories=factories,
                              dmf_seeds=args.dmf_seeds, on_row=keep)
        print(f"\n## {name} ({fmt}, protocol {protocol})\n{format_table(rows)}", flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")


# The defaults before issue #14 (5 networks 512 -> 256, 8 epochs each, no early stopping:
# the validation split is not shown to them), on today's code: `--dmf dmf-before=before`.
BEFORE = {"members": 5, "epochs": 8, "user_layers": [512, 256], "item_layers": [512, 256],
          "lr": 5e-4, "shared_negatives": 1024, "batch_size": 16384, "precision": "fp32",
          "validation": False}


def _variant(label: str, overrides: dict | str):
    """A DMF factory with config overrides, named `label` in the table. `"validation":
    false` trains it on the whole training part, every epoch, never shown the validation
    split."""
    from model.recommender import DMF

    overrides = dict(BEFORE if overrides == "before" else overrides)
    sees_validation = overrides.pop("validation", True)

    class Variant(DMF):
        name = label

    Variant.sees_validation = sees_validation  # model.harness fits it on the whole train

    def make(seed: int, **params):
        return Variant(seed=seed, **{**overrides, **params})

    return make


if __name__ == "__main__":
    main()
