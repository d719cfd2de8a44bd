"""Where the time of one webhook and one storefront request goes: cProfile, in process.

The Flask test client drives our app (no gunicorn, no sockets), so the profile shows the app's
own cost: ``--requests`` signed order webhooks into a fresh MariaDB database and the Redis
broker, then as many per-customer list requests against published lists. Prints the top
functions by own time and by cumulative time for each.

    python -m benchmarks.profile_live [--requests 1000] [--redis-db 13]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import tempfile
from pathlib import Path

import redis as redis_lib

from benchmarks.live import (
    GUEST_SALT,
    TOKEN_SECRET,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    fresh_database,
    order_event,
)
from config.settings import Settings
from webhook import create_app, signing, tokens
from worker import publish


def summary(profile: cProfile.Profile, n: int, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    out.write(f"total {stats.total_tt / n * 1e6:.0f} us of CPU per request (profiled)\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    ap.add_argument("--redis-db", type=int, default=13)
    args = ap.parse_args()
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    r = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    r.flushdb()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.mysql_url) as db_url:
        settings = Settings(database_url=db_url, redis_url=redis_url, broker_url=redis_url,
                            model_dir=Path(tmp), webhook_secrets=WEBHOOK_SECRET,
                            token_secret=TOKEN_SECRET, guest_salt=GUEST_SALT)
        client = create_app(settings).test_client()
        bodies = [json.dumps(order_event(f"prof-{k}", 3_000_000 + k, 700_000 + k,
                                         {"S1": 1, "S2": 2}), separators=(",", ":")).encode()
                  for k in range(args.requests)]
        signed = [(b, signing.signed_headers(WEBHOOK_SECRET, b)) for b in bodies]
        profile = cProfile.Profile()
        profile.enable()
        for body, headers in signed:
            client.post(WEBHOOK_PATH, data=body, headers=headers,
                        content_type="application/json")
        profile.disable()
        print("== webhook POST ==")
        print(summary(profile, args.requests, args.top))

        customers = [str(k) for k in range(args.requests)]
        publish.publish_user_lists(r, "prof", {c: [(f"S{j}", 1 - j / 200) for j in range(100)]
                                               for c in customers})
        publish.activate_version(r, "prof")
        publish.set_hidden_skus(r, ["S3", "S7"])
        auth = [(c, {"Authorization": f"Bearer {tokens.mint(TOKEN_SECRET, c, ttl_s=600)}"})
                for c in customers]
        profile = cProfile.Profile()
        profile.enable()
        for c, headers in auth:
            client.get(f"/v1/customers/{c}/recommendations", headers=headers)
        profile.disable()
        print("== storefront GET (customer top-N) ==")
        print(summary(profile, args.requests, args.top))
    r.flushdb()


if __name__ == "__main__":
    main()
