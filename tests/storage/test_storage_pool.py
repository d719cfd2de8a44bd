"""The worker engine's lean pool (storage.db._lean_pool), on the real MariaDB server: no
ROLLBACK after a COMMIT, a rollback whenever the server says a transaction is still open, and
a ping only for a connection that sat idle (issue 17: two round trips fewer per transaction)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from storage import db
from storage.db import is_outage, make_engine, run_transaction


@pytest.fixture
def lean(migrated_engines) -> Iterator[Engine]:
    """A fresh engine of the migrated MariaDB database: its own pool, one connection."""
    url = migrated_engines["mariadb"].url.render_as_string(hide_password=False)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _connection_id(engine: Engine) -> int:
    return run_transaction(engine, lambda s: s.execute(text("SELECT CONNECTION_ID()")).scalar())


def _rollbacks(engine: Engine) -> tuple[int, int]:
    """(this session's ROLLBACK count, its connection id), read on a pooled connection."""
    with engine.connect() as conn:  # closing it rolls its own read back: +1 afterwards
        row = conn.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'")).one()
        return int(row[1]), conn.execute(text("SELECT CONNECTION_ID()")).scalar()


def test_a_committed_transaction_goes_back_without_a_rollback(lean):
    first = _connection_id(lean)
    before, same = _rollbacks(lean)
    for _ in range(5):
        run_transaction(lean, lambda s: s.execute(text("SELECT 1")).all())
    after, again = _rollbacks(lean)
    assert first == same == again  # one pooled connection throughout
    assert after == before + 1  # only the read of the count itself rolled back


def test_a_connection_returned_inside_a_transaction_is_rolled_back(lean, migrated_engines):
    other = migrated_engines["mariadb"]
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS pool_probe (k INT PRIMARY KEY)"))
        conn.execute(text("DELETE FROM pool_probe"))
    try:
        raw = lean.raw_connection()  # the DB-API connection, which SQLAlchemy does not track
        cursor = raw.cursor()
        cursor.execute("INSERT INTO pool_probe VALUES (1)")
        cursor.close()
        raw.close()  # back to the pool with the INSERT uncommitted
        with lean.connect() as conn:
            assert conn.execute(text("SELECT @@in_transaction")).scalar() == 0
        with other.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM pool_probe")).scalar() == 0
    finally:
        with other.begin() as conn:
            conn.execute(text("DROP TABLE pool_probe"))


def _kill(other: Engine, connection_id: int) -> None:
    with other.connect() as conn:
        conn.execute(text(f"KILL {int(connection_id)}"))


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
        lean, migrated_engines, monkeypatch):
    monkeypatch.setattr(db, "PING_IDLE_S", 0.0)  # every pooled connection counts as idle
    dropped = _connection_id(lean)
    _kill(migrated_engines["mariadb"], dropped)
    assert _connection_id(lean) != dropped  # pinged, found dead, replaced: no error


def test_a_connection_dropped_right_after_use_fails_as_an_outage(
        lean, migrated_engines, monkeypatch):
    monkeypatch.setattr(db, "PING_IDLE_S", 3600.0)  # no ping: the statement meets the drop
    dropped = _connection_id(lean)
    _kill(migrated_engines["mariadb"], dropped)
    with pytest.raises(DBAPIError) as caught:
        _connection_id(lean)
    assert is_outage(caught.value)  # a worker's task retries it; nothing is half-written
    assert _connection_id(lean) != dropped  # and the pool has moved on
