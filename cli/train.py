"""`dmfrec train`: fit DMF on a purchase file or on the shop database and save the artifact."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cli.data_args import add_data_args, load_interactions_from_args
from cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train DMF and save the model artifact",
        description="Train DMF on a data file (--data/--format) or on the shop database "
        "(--db-url), and save weights + metadata to --out.",
    )
    add_data_args(p, allow_db=True)
    p.add_argument("--out", type=Path, required=True, help="artifact directory to write")
    p.add_argument("--epochs", type=int, help="training epochs (default: the model's)")
    p.add_argument("--members", type=int,
                   help="networks trained independently, scores averaged (default: the model's)")
    p.add_argument("--neg-ratio", type=int, help="negatives per observed entry")
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--batch-size", type=int, help="mini-batch size")
    p.add_argument("--loss", choices=["nce", "bce", "softmax", "holdout"],
                   help="normalized cross-entropy, plain BCE, sampled softmax over cosines, "
                   "or that softmax on customer batches with held-out targets")
    p.add_argument("--temperature", type=float, help="softmax loss: cosine / temperature")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-early-stop", action="store_true",
        help="train every epoch (by default the latest purchase of up to 5,000 customers is "
        "held out, each member stops once it no longer improves on it, and the saved model "
        "serves every purchase)",
    )
    p.add_argument(
        "--validate",
        action="store_true",
        help="also show HR@10/NDCG@10 per epoch on each customer's latest purchase among "
        "99 sampled SKUs (held out from training)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from model.recommender import DMF

    data = load_interactions_from_args(args)
    overrides = {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "members": args.members,
            "neg_ratio": args.neg_ratio,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "loss": args.loss,
            "temperature": args.temperature,
        }.items()
        if v is not None
    }
    model = DMF(seed=args.seed, device=args.device, **overrides)
    from model.validation import loo_epoch_callback, stopping_split

    callback, stop_on = None, None
    train_matrix = data.matrix
    if args.validate:
        train_matrix, callback = loo_epoch_callback(data, seed=args.seed)
    elif not args.no_early_stop:
        train_matrix, stop_on = stopping_split(data, seed=args.seed)
    started = time.perf_counter()
    model.fit(train_matrix, epoch_callback=callback, validation=stop_on)
    # Purchases held out for validation or stopping are served (folded in), not trained on.
    model.update_matrix(data.matrix)
    seconds = time.perf_counter() - started
    metadata = {
        "customer_ids": [str(u) for u in data.user_ids.tolist()],
        "skus": [str(s) for s in data.item_ids.tolist()],
        "source": getattr(args, "source_description", None),
        "fit_seconds": round(seconds, 2),
        "history": model.history,
    }
    try:
        model.save(args.out, metadata=metadata)
    except OSError as exc:
        raise CliError(f"cannot write the model to {args.out}: {exc}") from exc
    print(
        f"trained DMF on {data.shape[0]} customers x {data.shape[1]} SKUs "
        f"({data.nnz} interactions) in {seconds:.1f}s; saved to {args.out}"
    )
    return 0
