"""`dmfrec import magento`: backfill our database from a Magento shop's own tables."""

from __future__ import annotations

import argparse

from cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import orders from a shop system",
        description="Import orders from a shop system into the dmfrec database.",
    )
    isub = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    m = isub.add_parser(
        "magento",
        help="read sales_order / sales_order_item (+ credit memos) from a Magento database",
        description="Read a Magento 2 database's sales_order, sales_order_item and credit memos "
        "in chunks and apply them like webhook snapshots (newest snapshot per order wins; "
        "running it again changes nothing). Target: --target-url or DMFREC_DATABASE_URL.",
    )
    m.add_argument(
        "--db-url", required=True,
        help="Magento database URL, e.g. mysql+pymysql://user:pass@host/magento",
    )
    m.add_argument("--target-url", help="dmfrec database URL (default: DMFREC_DATABASE_URL)")
    m.add_argument(
        "--since",
        help="only orders placed since then: 3months, 92days, 2weeks, 1year or YYYY-MM-DD (UTC)",
    )
    m.add_argument("--chunk-size", type=int, help="orders per transaction (default: 500)")
    m.add_argument(
        "--migrate", action="store_true", help="create/upgrade the target schema first"
    )
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.set_defaults(func=run_magento)


def run_magento(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from cli.data_args import masked
    from storage import schema
    from storage.db import make_engine
    from storage.magento_import import import_magento, parse_since

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.chunk_size is not None and args.chunk_size < 1:
        raise CliError("--chunk-size must be at least 1")
    try:
        target = make_engine(args.target_url)
        source = make_engine(args.db_url)
    except (SQLAlchemyError, ValueError) as exc:
        raise CliError(masked(args.db_url, masked(args.target_url, f"bad database URL: {exc}"))
                       ) from None
    try:
        if args.migrate:
            schema.upgrade(target)
        elif not schema.has_schema(target):
            raise CliError(
                f"{target.url.render_as_string()} has no dmfrec tables: run "
                "`alembic upgrade head` (or pass --migrate)"
            )
        stats = import_magento(
            source, target, since=since, chunk_size=args.chunk_size,
            progress=not args.no_progress,
        )
    except SQLAlchemyError as exc:
        raise CliError(masked(args.db_url, masked(args.target_url, "database error: "
                                                  + str(exc).splitlines()[0]))) from None
    finally:
        source.dispose()
    print(
        f"imported {stats.orders} orders ({stats.lines} lines) in {stats.seconds:.1f}s, "
        f"{stats.lines_per_s:.0f} lines/s: {stats.applied} applied, {stats.stale} older than "
        f"what we hold, {len(stats.rejected)} rejected"
    )
    for entity_id, error in stats.rejected[:20]:
        print(f"  rejected order {entity_id}: {error}")
    return 0
