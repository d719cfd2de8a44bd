"""`dmfrec recommend`: top-N SKUs for a customer, or similar SKUs, from a saved model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="print a customer's top-N SKUs (or SKUs similar to one) from a saved model",
        description="Read a model saved by `dmfrec train` and print recommendations.",
    )
    p.add_argument("--model", type=Path, required=True, help="artifact directory from `train`")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="customer id as in the training data")
    who.add_argument("--similar-to", metavar="SKU", help="list SKUs similar to this one")
    p.add_argument("-n", "--top", type=int, default=10, help="how many (default 10)")
    p.add_argument("--exclude", default="", help="comma-separated SKUs to leave out")
    p.add_argument(
        "--include-bought", action="store_true", help="do not leave out what the customer bought"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from model.recommender import DMF

    if args.top < 1:
        raise CliError("-n/--top must be at least 1")
    if not (args.model / "meta.json").is_file():
        raise CliError(f"{args.model} is not a model directory (no meta.json); run `dmfrec train`")
    model = DMF.load(args.model)
    meta = model.metadata
    skus: list[str] = meta.get("skus") or []
    customers: list[str] = meta.get("customer_ids") or []
    if not skus or not customers:
        raise CliError(f"{args.model} has no customer/SKU maps in its metadata")
    sku_index = {s: k for k, s in enumerate(skus)}
    excluded = [sku_index[s] for s in args.exclude.split(",") if s and s in sku_index]

    if args.similar_to is not None:
        if args.similar_to not in sku_index:
            raise CliError(f"SKU {args.similar_to!r} is not in the model")
        items, scores = model.similar_items(sku_index[args.similar_to], n=args.top)
        title = f"SKUs similar to {args.similar_to}"
    else:
        try:
            user = customers.index(str(args.customer))
        except ValueError:
            raise CliError(f"customer {args.customer!r} is not in the model") from None
        items, scores = model.recommend(
            user, n=args.top, exclude_seen=not args.include_bought, exclude=excluded
        )
        title = f"top {args.top} for customer {args.customer}"
    rows = [
        {"sku": skus[int(i)], "score": round(float(s), 6)}
        for i, s in zip(items, scores, strict=True)
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        print(title)
        for rank, row in enumerate(rows, 1):
            print(f"{rank:>3}  {row['sku']:<24} {row['score']:.4f}")
    return 0
