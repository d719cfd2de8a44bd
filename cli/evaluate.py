"""`dmfrec evaluate`: DMF and every baseline on one split, as a table and as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.data_args import add_data_args, load_data
from cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    from model.harness import MODELS, PROTOCOLS

    p = sub.add_parser(
        "evaluate",
        help="compare DMF with the baselines on one split",
        description="Split the data by --protocol, fit every model on the same train matrix, "
        "rank the held-out SKUs (ties broken at random) and print one row per model.",
    )
    add_data_args(p)
    p.add_argument("--protocol", choices=PROTOCOLS, default="loo",
                   help="loo: latest item among 100 candidates; full: latest item, full "
                   "ranking; time: new SKUs after a time cut-off, full ranking")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("-k", type=int, default=10, help="cut-off for the metrics (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from model.harness import format_table, run_evaluation

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        raise CliError("--models is empty")
    data = load_data(args)
    try:
        rows = run_evaluation(data, args.protocol, models, value=args.value, seed=args.seed,
                              k=args.k, progress=not args.quiet)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(format_table(rows))
    if args.json is not None:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(rows, indent=1))
        except OSError as exc:
            raise CliError(f"cannot write {args.json}: {exc}") from None
    return 0
