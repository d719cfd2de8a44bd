"""Helpers of the fuzzing suite: secrets, valid events, state fingerprints and the case counter.

The suite's promise is "no 5xx, and a rejected request writes nothing": `state()` fingerprints
the database (row count of every table) and Redis (every key with its type and size) so a test
can compare it around each request. `CASES` counts executed cases per module; each module
asserts its share, and the shares add up to at least `TOTAL_MIN_CASES`.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import redis as redis_lib
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, settings
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from storage.models import Base
from worker.events import WAKE_KEY
from worker.publish import ANSWERS

# Redis db 11: tests use 15 (unit) and 14 (e2e), the benchmarks 13.
REDIS_URL = os.environ.get("DMFREC_TEST_FUZZ_REDIS_URL", "redis://127.0.0.1:6379/11")
MYSQL_SERVER = os.environ.get("DMFREC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
SECRET = "whsec_" + "ZnV6ei1zZWNyZXQtZm9yLXRlc3RzLW9ubHktMDEyMzQ1"
TOKEN_SECRET = "fuzz-token-secret-0123456789abcdef"
MAX_BODY = 20_000
TOLERANCE_S = 300
ADOBE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ADOBE_PUBLIC_PEM = ADOBE_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
TOTAL_MIN_CASES = 10_000

CASES: Counter[str] = Counter()
_ids = itertools.count(1)

# Shared by every hypothesis test: reproducible in CI, no example database in the tree.
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


def next_id() -> int:
    """A fresh positive id (entity/item ids) unique within the session."""
    return next(_ids) + 10_000 * (os.getpid() % 1000)


def valid_event(event_id: str | None = None, *, sku: str = "SKU-A", customer_id: int = 42,
                entity_id: int | None = None) -> dict[str, Any]:
    """A snapshot event that validates (storage.snapshot.SnapshotEvent), one line."""
    entity_id = entity_id or next_id()
    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "event_id": event_id or f"evt-{uuid.uuid4().hex}",
        "order": {
            "entity_id": entity_id, "increment_id": f"{entity_id:09d}", "store_id": 1,
            "customer_id": customer_id, "customer_email": "c@example.com",
            "state": "processing", "status": "processing", "created_at": at, "updated_at": at,
            "items": [{"item_id": entity_id * 10, "sku": sku, "qty_ordered": 2, "price": 10,
                       "row_total": 20}],
        },
    }


# Every key with its type and size in one round trip (the test databases hold few keys),
# except the storefront's ready-answers cache (ARGV[1]): reads fill it and it expires on its
# own 10 s timer, so it comes and goes during any request without being anyone's write; and
# the ingest wake flag (ARGV[2], worker.events): accepted events set it, and it expires on its
# own 30 s timer.
REDIS_STATE = """
local out = {}
for _, key in ipairs(redis.call('KEYS', '*')) do
  if key ~= ARGV[1] and key ~= ARGV[2] then
    local kind = redis.call('TYPE', key)['ok']
    local size = {list='LLEN', set='SCARD', zset='ZCARD', hash='HLEN'}
    out[#out + 1] = key .. ' ' .. kind .. ' ' .. redis.call(size[kind] or 'STRLEN', key)
  end
end
return out
"""
COUNTS = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in sorted(Base.metadata.tables))


def state(conn: Connection, r: redis_lib.Redis) -> tuple[dict[str, int], set[str]]:
    """(row count per table, {"key type size"}): equal before and after = nothing written.

    `conn` must be in autocommit mode so every call sees the latest commits.
    """
    counts = dict(zip(sorted(Base.metadata.tables), conn.execute(text(COUNTS)).one(),
                      strict=True))
    return counts, set(r.eval(REDIS_STATE, 0, ANSWERS, WAKE_KEY))


class MariaDB:
    """Creates uniquely named databases on the local MariaDB server and drops them later."""

    def __init__(self) -> None:
        self.server = create_engine(MYSQL_SERVER, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def new_database(self) -> str:
        name = f"dmfrec_fuzz_{uuid.uuid4().hex[:10]}"
        with self.server.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        self.created.append(name)
        url = make_url(MYSQL_SERVER).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        return url

    def drop_all(self) -> None:
        with self.server.connect() as conn:
            for name in self.created:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        self.server.dispose()
