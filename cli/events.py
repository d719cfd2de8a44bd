"""`dmfrec events`: list the events that failed to apply, and send them back after a fix."""

from __future__ import annotations

import argparse
import json

from cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "events",
        help="list failed events, or retry them after a fix",
        description="Events the database refused (or that do not validate) end `failed` after "
        "DMFREC_EVENT_MAX_ATTEMPTS attempts. List them with --failed; once the cause is fixed, "
        "--retry ID (or --all-failed) sends them back to pending and hands them to the workers "
        "(or, with the broker down, to the pending sweep).",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--failed", action="store_true", help="list failed events, newest first")
    what.add_argument("--retry", metavar="ID", action="append", help="retry this failed event "
                      "(repeatable)")
    what.add_argument("--all-failed", action="store_true", help="retry every failed event")
    p.add_argument("--limit", type=int, default=100, help="events listed (default: 100)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--db-url", help="database URL (default: DMFREC_DATABASE_URL)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from storage import failures

    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    try:
        if args.failed:
            return _list(failures.failed_events(args.db_url, args.limit), args.json)
        changed = failures.retry_failed(args.db_url, None if args.all_failed else args.retry)
    except SQLAlchemyError as exc:
        raise CliError(f"database error: {str(exc).splitlines()[0]}") from None
    unknown = sorted(set(args.retry or []) - set(changed))
    if unknown:
        print(f"not failed (left alone): {', '.join(unknown)}")
    sent = _enqueue(changed)
    print(f"{len(changed)} event(s) back to pending; {sent} handed to the workers"
          + ("" if sent == len(changed) else ", the others go with the next pending sweep"))
    return 1 if unknown and not changed else 0


def _list(rows, as_json: bool) -> int:
    for r in rows:
        if as_json:
            print(json.dumps({"event_id": r.event_id, "order_id": r.order_id,
                              "received_at": r.received_at.isoformat(),
                              "failed_at": r.processed_at and r.processed_at.isoformat(),
                              "attempts": r.attempts, "error": r.error}))
        else:
            print(f"{r.event_id}\torder {r.order_id}\treceived {r.received_at:%Y-%m-%d %H:%M:%S}"
                  f"\tattempts {r.attempts}\t{(r.error or '').splitlines()[0][:300]}")
    if not as_json:
        print(f"{len(rows)} failed event(s)")
    return 0


def _enqueue(event_ids: list[str]) -> int:
    """Hand the ids to the ingest queue (False per id when the broker is down)."""
    import redis as redis_lib

    from config import get_settings
    from worker import events
    from worker.celery_app import make_celery

    if not event_ids:
        return 0
    settings = get_settings()
    celery = make_celery(settings, main="dmfrec-cli", fail_fast=True)
    r = redis_lib.Redis.from_url(settings.redis_url, decode_responses=True,
                                 socket_connect_timeout=2, socket_timeout=5)
    sent = 0
    for event_id in event_ids:
        if not events.enqueue(celery, event_id, r, settings.resend_after_s):
            break  # broker down: the sweep sends the rest
        sent += 1
    return sent
