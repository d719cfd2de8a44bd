"""The data options shared by `train` and `evaluate`, and turning them into a data set."""

from __future__ import annotations

import argparse
import re

from cli.errors import CliError
from model.interactions import VALUE_SCHEMES, Interactions


def add_data_args(p: argparse.ArgumentParser, *, allow_db: bool = False) -> None:
    from model.datasets import FORMATS

    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", help="file or folder to read (see --format)")
    if allow_db:
        src.add_argument(
            "--db-url",
            help="train from the shop database (interactions inside --window-days), "
            "e.g. sqlite:///var/dmfrec.db or mysql+pymysql://user:pass@host/db",
        )
        p.add_argument("--window-days", type=int, default=None,
                       help="training window in days (default DMFREC_WINDOW_DAYS, 92; 0: all)")
        p.add_argument("--until", default=None,
                       help="end of the window: 'latest' (just after the newest order) or "
                       "an ISO date (default: now)")
    p.add_argument("--format", choices=FORMATS, default="csv",
                   help="data format (default csv: customer_id, sku, qty, amount, ordered_at)")
    p.add_argument("--value", choices=VALUE_SCHEMES, default="log1p",
                   help="interaction value from purchases (default log1p of the quantity)")


def masked(url: str | None, text: str | None = None) -> str:
    """`text` (default: `url` itself) with the URL's password replaced by ``***``: a database
    URL is never printed with its password."""
    from sqlalchemy.engine import make_url

    text = (url or "") if text is None else text
    if not url:
        return text
    try:
        password = make_url(url).password
    except Exception:  # not even a URL: mask whatever sits between "user:" and "@"
        password = m.group(1) if (m := re.search(r"://[^:/@]*:([^@]*)@", url)) else None
    if not password:
        return text
    from urllib.parse import quote, quote_plus

    # As parsed and as it may be written in the URL (percent-encoded).
    for form in sorted({password, quote(password, safe=""), quote_plus(password)}, key=len,
                       reverse=True):
        text = text.replace(form, "***")
    return text


def _date(text: str):
    from datetime import datetime

    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--until must be 'latest' or an ISO date, not {text!r}") from None


def load_data(args: argparse.Namespace):
    """Purchases or NCF data from --data/--format, with loader errors as CLI errors."""
    from model.datasets import load

    if args.data is None and args.format != "synthetic":
        raise CliError("--data is required (or --format synthetic)")
    try:
        return load(args.data, args.format, seed=getattr(args, "seed", 0))
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None


def load_interactions_from_args(args: argparse.Namespace) -> Interactions:
    """The whole matrix to train on, from a file or from the database's window."""
    if getattr(args, "db_url", None):
        from storage.training_data import load_interactions

        kwargs = {"value": args.value}
        if args.window_days is not None:
            kwargs["window_days"] = args.window_days
        if args.until is not None:
            kwargs["until"] = args.until if args.until == "latest" else _date(args.until)
        try:
            data = load_interactions(args.db_url, **kwargs)
        except Exception as exc:  # any driver error: the URL or the database is wrong
            raise CliError(masked(args.db_url, f"cannot read interactions from {args.db_url}: "
                                               f"{exc}")) from None
        args.source_description = f"database ({args.db_url.split('@')[-1]})"
    else:
        from model.harness import interactions_of

        data = interactions_of(load_data(args), args.value)
        args.source_description = f"{args.format}:{args.data}"
    if data.nnz == 0:
        raise CliError("no interactions to train on (empty data or window)")
    return data
