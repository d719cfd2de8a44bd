"""`dmfrec` entry point: one argparse sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli import errors


def build_parser() -> argparse.ArgumentParser:
    from cli import demo, erase, evaluate, events, experiment, import_cmd, recommend, train

    parser = argparse.ArgumentParser(
        prog="dmfrec", description="Deep Matrix Factorization recommendations for Magento shops."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, train, evaluate, recommend, import_cmd, events, erase,
                   experiment):  # issue 18: A/B experiments
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except errors.CliError as exc:
        print(f"dmfrec {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
