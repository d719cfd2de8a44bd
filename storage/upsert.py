"""Dialect upserts: SQLite `INSERT ... ON CONFLICT`, MySQL/MariaDB `ON DUPLICATE KEY UPDATE`.

Both forms take a row lock on the key (InnoDB locks the existing or the new row), so an upsert
that updates nothing is also how ingestion locks a row that may not exist yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, case, func
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

T = TypeVar("T")
CHUNK = 500  # rows per statement / keys per IN list


def chunks(seq: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def dialect_name(session: Session) -> str:
    name = session.get_bind().dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def _each_part(session: Session, rows: Sequence[Mapping[str, Any]],
               build: Callable[[str], Any]) -> None:
    """Execute `build(dialect)` (the dialect's INSERT statement) per chunk of `rows`."""
    if not rows:
        return
    stmt = build(dialect_name(session))
    for part in chunks(rows):
        session.execute(stmt, list(part))


def _dialect_insert(dialect: str, table: Table) -> Any:
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "mysql":
        return mysql.insert(table)
    raise NotImplementedError(f"no upsert for dialect {dialect!r}")


# The statements are built once per shape and reused (issue 17): building one, its
# `inserted`/`excluded` column collection above all, cost more client CPU than executing it.
# A statement holds no row values (those are the execution's parameters), so reuse is safe.


@lru_cache(maxsize=256)
def _upsert_statement(dialect: str, table: Table, keys: tuple[str, ...],
                      cols: tuple[str, ...]) -> Any:
    stmt = _dialect_insert(dialect, table)
    if dialect == "sqlite":
        if cols:
            return stmt.on_conflict_do_update(index_elements=list(keys),
                                              set_={c: stmt.excluded[c] for c in cols})
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    if cols:
        return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in cols})
    # a no-op assignment still locks the duplicate row
    return stmt.on_duplicate_key_update({keys[0]: table.c[keys[0]]})


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    update: Sequence[str] | None = None,
    conflict: Sequence[str] | None = None,
) -> None:
    """Insert `rows`; on a key conflict set the `update` columns (None: all non-key columns;
    empty: change nothing, only lock the existing row). `conflict`: the unique key's columns
    (default: the primary key; MySQL reacts to any unique key anyway)."""
    keys = tuple(conflict or [c.name for c in table.primary_key.columns])
    cols = tuple(c.name for c in table.columns if c.name not in keys) if update is None \
        else tuple(update)
    _each_part(session, rows,
               lambda dialect: _upsert_statement(dialect, table, keys, cols))


def upsert_newer(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    stamp: str,
    fields: Sequence[str],
    always: Sequence[str] = (),
) -> None:
    """Upsert where a conflicting row is only changed when the new `stamp` is not older; then
    each of `fields` takes the new value unless it is NULL, and `stamp` the newer time.
    `always` columns are set on every accepted change (e.g. our own updated_at)."""
    _each_part(session, rows, lambda dialect: _newer_statement(
        dialect, table, stamp, tuple(fields), tuple(always)))


@lru_cache(maxsize=64)
def _newer_statement(dialect: str, table: Table, stamp: str, fields: tuple[str, ...],
                     always: tuple[str, ...]) -> Any:
    stmt = _dialect_insert(dialect, table)
    if dialect == "sqlite":
        new = stmt.excluded
        set_ = {f: func.coalesce(new[f], table.c[f]) for f in fields}
        set_ |= {c: new[c] for c in (*always, stamp)}
        keys = [c.name for c in table.primary_key.columns]
        return stmt.on_conflict_do_update(index_elements=keys, set_=set_,
                                          where=new[stamp] >= table.c[stamp])
    new = stmt.inserted
    newer = new[stamp] >= table.c[stamp]
    # MySQL assigns left to right: the stamp must come last, after the comparisons.
    pairs = [(f, case((newer, func.coalesce(new[f], table.c[f])), else_=table.c[f]))
             for f in fields]
    pairs += [(c, case((newer, new[c]), else_=table.c[c])) for c in always]
    pairs.append((stamp, case((newer, new[stamp]), else_=table.c[stamp])))
    return stmt.on_duplicate_key_update(pairs)


Merge = Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[Any]]


def upsert_merge(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]],
    merge: Mapping[str, Merge],
) -> None:
    """Upsert where a conflicting row's column `c` becomes `merge[c](stored, new)`: e.g. a
    sum, so that concurrent writers add up under the row lock instead of overwriting. Each
    expression must read only its own column (MySQL assigns left to right: another column
    would already be merged)."""
    _each_part(session, rows,
               lambda dialect: _merge_statement(dialect, table, tuple(merge.items())))


@lru_cache(maxsize=64)
def _merge_statement(dialect: str, table: Table, merge: tuple[tuple[str, Merge], ...]) -> Any:
    stmt = _dialect_insert(dialect, table)
    if dialect == "sqlite":
        keys = [c.name for c in table.primary_key.columns]
        return stmt.on_conflict_do_update(index_elements=keys, set_={
            c: f(table.c[c], stmt.excluded[c]) for c, f in merge})
    return stmt.on_duplicate_key_update([(c, f(table.c[c], stmt.inserted[c])) for c, f in merge])
