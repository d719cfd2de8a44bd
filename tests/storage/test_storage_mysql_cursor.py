"""storage.mysql_cursor renders parameters as PyMySQL itself does, on the real server."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from storage.db import make_engine
from storage.mysql_cursor import FastCursor, fast_escape

VALUES = [
    "plain", "", "it's", 'a "quoted" \\ back\\slash', "100% %s %(x)s", "nul\x00byte", "\n\r\t\x1a",
    "emoji \U0001F600 ü", 0, -7, 2**63 - 1, Decimal("0"), Decimal("12.3400"),
    Decimal("-0.0001"), Decimal("1E+3"), Decimal("123456789012345.6789"), None, True, False,
    1.5, b"\x00bytes'", date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5),
    datetime(2026, 1, 2, 3, 4, 5, 60), datetime(999, 12, 31, 23, 59, 59, 999999),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
]


@pytest.fixture()
def engine(mariadb):
    engine = make_engine(mariadb.new_database("cur_"))
    yield engine
    engine.dispose()


def _raw(engine):
    return engine.raw_connection()


def test_the_engine_uses_the_fast_cursor(engine):
    conn = _raw(engine)
    try:
        assert isinstance(conn.cursor(), FastCursor)
    finally:
        conn.close()


@pytest.mark.parametrize("no_backslash", [False, True])
def test_every_value_renders_as_pymysql_renders_it(engine, no_backslash):
    conn = _raw(engine)
    try:
        if no_backslash:
            conn.cursor().execute("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
        driver = conn.driver_connection
        literal = fast_escape(driver)
        for value in VALUES:
            assert literal(value) == driver.escape(value), value
    finally:
        conn.close()


@pytest.mark.parametrize("no_backslash", [False, True])
def test_values_round_trip_through_an_executemany(engine, no_backslash):
    """Strings with quotes, backslashes, % and NUL come back unchanged, one row each."""
    strings = [v for v in VALUES if isinstance(v, str)]
    with engine.begin() as conn:
        if no_backslash:
            conn.exec_driver_sql("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
        conn.exec_driver_sql("CREATE TABLE t (k INT PRIMARY KEY, s TEXT, d DECIMAL(20,4), "
                             "at DATETIME(6)) CHARACTER SET utf8mb4")
        rows = [{"k": k, "s": s, "d": Decimal(k) / 7, "at": datetime(2026, 1, 1, 0, 0, k)}
                for k, s in enumerate(strings)]
        conn.execute(text("INSERT INTO t (k, s, d, at) VALUES (:k, :s, :d, :at) "
                          "ON DUPLICATE KEY UPDATE s = VALUES(s)"), rows)
        back = conn.execute(text("SELECT k, s, d, at FROM t ORDER BY k")).all()
    assert [r.s for r in back] == strings
    assert [r.d for r in back] == [(Decimal(k) / 7).quantize(Decimal("0.0001"))
                                   for k in range(len(strings))]
    assert [r.at for r in back] == [row["at"] for row in rows]
