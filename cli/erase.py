"""`dmfrec erase`: remove one customer (or a guest's email) from every table, Redis key and
retained model artifact."""

from __future__ import annotations

import argparse

from cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "erase",
        help="erase one customer everywhere (a deletion request)",
        description="Delete a customer's orders, order lines, interactions, events and "
        "storefront analytics (attributed lines, impressions and clicks), their "
        "lists under every model version and their bought set in Redis, and blank them in "
        "every retained model artifact. Guests are found by the salted hash of their email "
        "(DMFREC_GUEST_SALT). Uses DMFREC_DATABASE_URL, DMFREC_REDIS_URL, DMFREC_MODEL_DIR.",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", metavar="ID", help="Magento customer id")
    who.add_argument("--email", help="a guest's email address")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import redis as redis_lib
    from sqlalchemy.exc import SQLAlchemyError

    from config import get_settings
    from worker import erasure
    from worker.runtime import Runtime

    rt = Runtime.from_settings(get_settings())
    try:
        summary = erasure.erase(rt, customer_id=args.customer, email=args.email)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise CliError(f"database error: {str(exc).splitlines()[0]}") from None
    except redis_lib.RedisError as exc:
        raise CliError(f"Redis error (the database part is done; run it again): {exc}") from None
    finally:
        rt.engine.dispose()
        rt.redis.close()
    print(f"erased: {summary['orders']} orders ({summary['lines']} lines), "
          f"{summary['interactions']} interactions, {summary['events']} events, "
          f"{summary['redis_keys']} Redis keys; {summary['artifacts']} artifact(s) rewritten")
    return 0
