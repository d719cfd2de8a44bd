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
        "rank the held-out SKUs (ties broken at random) and print one row per model. "
        "Each baseline's settings are picked, and DMF is stopped, on a validation split "
        "carved from the training part; the test split is scored once per model. "
        "A model that would not fit in memory is skipped with a message. "
        "For --format ncf, --data is the folder or path prefix of *.train.rating etc.; "
        "for online-retail, the folder of CSVs or one CSV.",
    )
    add_data_args(p)
    p.add_argument("--protocol", choices=PROTOCOLS, default="loo",
                   help="loo: latest item among 100 candidates; full: latest item, full "
                   "ranking; time: new SKUs after a time cut-off, full ranking")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated subset of {','.join(MODELS)} (default: all)")
    p.add_argument("-k", default="10", help="metric cut-off(s), e.g. 10 or 10,20 (default 10)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for the split, the sampled candidates, tie-breaks and models")
    cut = p.add_mutually_exclusive_group()
    cut.add_argument("--cutoff", help="time protocol: T as a date (2011-10-01) or unix seconds")
    cut.add_argument("--test-days", type=float,
                     help="time protocol: test on the last N days (default: last sixth)")
    p.add_argument("--json", type=Path,
                   help="also write the rows as JSON here (each row as soon as it is done)")
    p.add_argument("--dmf-seeds", type=int, default=1,
                   help="train DMF with this many seeds and report their mean and spread")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        ks = ()
    if not ks or min(ks) < 1:
        raise CliError(f"-k must be positive integers like 10 or 10,20, not {text!r}")
    return ks


def _cutoff(text: str | None) -> int | None:
    from model.datasets.csv_purchases import parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise CliError(
            f"--cutoff must be a date (2011-10-01) or unix seconds, not {text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    from model.harness import format_table, run_evaluation

    models = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    if not models:
        raise CliError("--models is empty")
    ks = _ks(args.k)
    if args.dmf_seeds < 1:
        raise CliError(f"--dmf-seeds must be at least 1, not {args.dmf_seeds}")
    cutoff = _cutoff(args.cutoff)
    if (cutoff is not None or args.test_days is not None) and args.protocol != "time":
        raise CliError("--cutoff/--test-days apply to --protocol time only")
    data = load_data(args)
    done: list[dict] = []

    def write(row: dict) -> None:
        """Each row reaches --json as soon as it is computed: a later crash loses no row."""
        done.append(row)
        if args.json is None:
            return
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(done, indent=1))
        except OSError as exc:
            raise CliError(f"cannot write {args.json}: {exc}") from None

    try:
        rows = run_evaluation(data, args.protocol, models, value=args.value, seed=args.seed,
                              k=ks, progress=not args.quiet, cutoff=cutoff,
                              test_days=args.test_days, dmf_seeds=args.dmf_seeds,
                              on_row=write)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(format_table(rows))
    return 0
