"""Engines, sessions and retried transactions for the shop database (MariaDB/MySQL or SQLite).

Every engine is made here so that both backends behave alike under concurrent writers:

- MariaDB/MySQL: `READ COMMITTED` (each statement sees the latest committed lines, which the
  per-pair recomputation in `storage.ingestion` relies on after it has locked the pair),
  `utf8mb4` on the connection (SKUs may hold any Unicode character, emoji included), and with
  PyMySQL the cursor of storage.mysql_cursor (faster parameter rendering, the same SQL).
- SQLite: WAL, a busy timeout, foreign keys on, and `BEGIN IMMEDIATE` for write transactions so
  a read-then-write transaction holds the database write lock from its first statement.

`make_engine(url, autocommit=True)` is the webhook's engine for single-statement writes
(`insert_new`): on MariaDB each statement commits itself, so one INSERT is one round trip (no
COMMIT, no ROLLBACK when the connection goes back to the pool, no ping before it: an INSERT
on a connection the server dropped runs again on a fresh one instead).
"""

from __future__ import annotations

import random
import time
import weakref
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings
from storage.mysql_cursor import FastCursor

T = TypeVar("T")

# MySQL error codes worth a retry: deadlock found, lock wait timeout.
_MYSQL_RETRY_CODES = {1213, 1205}
SQLITE_BUSY_TIMEOUT_MS = 30_000
_READ_COMMITTED: weakref.WeakSet[Engine] = weakref.WeakSet()  # MySQL engines made here
_AUTOCOMMIT: weakref.WeakSet[Engine] = weakref.WeakSet()  # MySQL engines of make_engine(autocommit)


def make_engine(url: str | None = None, *, autocommit: bool = False, **kwargs) -> Engine:
    """A new engine for `url` (default: `DMFREC_DATABASE_URL`), set up as the module says;
    `autocommit`: for `insert_new` only, on MariaDB/MySQL (SQLite ignores it)."""
    url_obj = make_url(url or get_settings().database_url)
    backend = url_obj.get_backend_name()
    if backend in ("mysql", "mariadb"):
        if "charset" not in url_obj.query:
            url_obj = url_obj.update_query_dict({"charset": "utf8mb4"})
        if autocommit:
            kwargs.update(isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True)
        lean = (not autocommit and url_obj.get_driver_name() == "pymysql"
                and "pool_pre_ping" not in kwargs and "pool_reset_on_return" not in kwargs)
        if lean:  # `_lean_pool`: the ping and the reset only when they can matter
            kwargs.update(pool_pre_ping=False, pool_reset_on_return=None)
        kwargs.setdefault("isolation_level", "READ COMMITTED")
        kwargs.setdefault("pool_pre_ping", not autocommit)
        kwargs.setdefault("pool_recycle", 3600)
        if url_obj.get_driver_name() == "pymysql":
            # Parameters rendered in one call each (storage.mysql_cursor): ingestion's cost.
            kwargs["connect_args"] = {"cursorclass": FastCursor, **kwargs.get("connect_args", {})}
        engine = create_engine(url_obj, **kwargs)
        if lean:
            _lean_pool(engine)
        if kwargs["isolation_level"] == "READ COMMITTED":
            _READ_COMMITTED.add(engine)
        elif autocommit:
            _AUTOCOMMIT.add(engine)
        return engine
    if backend == "sqlite":
        database = url_obj.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url_obj, **kwargs)
        _setup_sqlite(engine)
        return engine
    return create_engine(url_obj, **kwargs)


PING_IDLE_S = 2.0  # a pooled connection idle longer than this is pinged before use


def _lean_pool(engine: Engine) -> None:
    """Two round trips fewer per transaction (issue 17: a worker's batch made 13):

    - no ROLLBACK when a connection goes back to the pool after its COMMIT: the server's own
      status flag (in every OK packet) says whether a transaction is still open, and only
      then is it rolled back (SQLAlchemy's default reset rolls back after a commit too);
    - no ping before each use: only a connection idle for more than PING_IDLE_S is pinged
      (a failed ping makes the pool connect anew, as pre-ping does). A connection used just
      before is alive but for a server that died in between, which the statement then meets
      as an outage (`is_outage`), as it would a server dying mid-transaction.
    """
    from pymysql.constants import SERVER_STATUS

    @event.listens_for(engine, "reset")
    def _reset(dbapi_conn, _record, state) -> None:
        status = getattr(dbapi_conn, "server_status", None)
        if not state.terminate_only and (status is None
                                         or status & SERVER_STATUS.SERVER_STATUS_IN_TRANS):
            dbapi_conn.rollback()

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since > PING_IDLE_S:
            try:
                dbapi_conn.ping(reconnect=False)
            except Exception as exc:  # any failure: this connection is gone
                raise DisconnectionError(f"ping failed: {exc}") from exc


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # Readers may pass execution_options(sqlite_begin="DEFERRED") to not block writers.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """A process-wide engine per URL (default: the configured one)."""
    return make_engine(url)


def as_engine(engine_or_url: Engine | str | None) -> Engine:
    """Accept an engine, a URL, or None (the configured database)."""
    if isinstance(engine_or_url, Engine):
        return engine_or_url
    return get_engine(engine_or_url)


def session_factory(engine_or_url: Engine | str | None = None) -> sessionmaker[Session]:
    """`sessionmaker` bound to the given (or configured) database; objects survive commit."""
    return sessionmaker(bind=as_engine(engine_or_url), expire_on_commit=False)


def is_mysql(engine_or_session: Engine | Session) -> bool:
    bind = engine_or_session
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bind.dialect.name in ("mysql", "mariadb")


def _retryable(exc: DBAPIError) -> bool:
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_RETRY_CODES:
        return True
    return "database is locked" in str(exc.orig) or "database table is locked" in str(exc.orig)


# MySQL/MariaDB errors that mean "the server is unreachable, going away or overloaded": worth a
# retry later. Everything else (a CHECK failure such as 4025, bad data) fails the same way again.
_MYSQL_OUTAGE_CODES = {1040, 1053, 1205, 1213, 1927, 2002, 2003, 2005, 2006, 2013, 2055, 4031}


def is_outage(exc: BaseException) -> bool:
    """Whether a database error is an outage (retry later) rather than a bug or bad data."""
    if isinstance(exc, InterfaceError | DisconnectionError | PoolTimeout):
        return True  # the connection itself is unusable, or the pool is exhausted
    if not isinstance(exc, OperationalError):
        return False
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_OUTAGE_CODES
    return _retryable(exc) or "unable to open database file" in str(exc.orig)


def run_transaction(
    engine_or_url: Engine | str | None, work: Callable[[Session], T], *, retries: int = 8
) -> T:
    """Run `work(session)` in one transaction, retried on deadlock / lock timeout / busy.

    `work` must be safe to run again from scratch (it is: everything it wrote was rolled back).
    """
    engine = as_engine(engine_or_url)
    for attempt in range(retries + 1):
        with Session(engine, expire_on_commit=False) as session:
            try:
                with session.begin():
                    if is_mysql(engine) and engine not in _READ_COMMITTED:
                        # An engine made elsewhere: READ COMMITTED for this transaction.
                        session.connection(execution_options={"isolation_level": "READ COMMITTED"})
                    return work(session)
            except OperationalError as exc:
                if attempt >= retries or not _retryable(exc):
                    raise
        time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def insert_new(engine_or_url: Engine | str | None, table: Table, row: dict[str, Any], *,
               retries: int = 8) -> bool:
    """INSERT `row` committed on its own; False, with nothing written, when a unique key already
    holds it (MySQL 1062, SQLite UNIQUE): no SELECT first, the index decides, atomically.

    An autocommit engine (`make_engine(autocommit=True)`) sends the INSERT alone; any other
    engine INSERT then COMMIT. Retried as `run_transaction` is, and once or twice on a
    connection the server had dropped (an autocommit engine pings nothing beforehand): if the
    lost INSERT did commit, the retry meets its own row, which then still answers True (the
    caller enqueues it; applying an event twice changes nothing).
    """
    engine = as_engine(engine_or_url)
    statement = table.insert()
    reconnects = 0
    for attempt in range(retries + 1):
        try:
            if engine in _AUTOCOMMIT:
                with engine.connect() as conn:  # closing sends nothing: no ROLLBACK to skip
                    conn.execute(statement, row)
            else:
                with engine.begin() as conn:
                    conn.execute(statement, row)
            return True
        except IntegrityError as exc:
            if not _duplicate_key(exc):
                raise
            return reconnects > 0
        except DBAPIError as exc:
            if exc.connection_invalidated and reconnects < 2:
                reconnects += 1
                continue
            if attempt >= retries or not isinstance(exc, OperationalError) \
                    or not _retryable(exc):
                raise
        time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def _duplicate_key(exc: IntegrityError) -> bool:
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] == 1062  # MySQL/MariaDB ER_DUP_ENTRY
    return "UNIQUE constraint failed" in str(exc.orig)
