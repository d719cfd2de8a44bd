"""A PyMySQL cursor that turns the common parameter types into SQL text in one call each.

PyMySQL renders every parameter client-side (`Cursor._mogrify`): for each value, `escape`,
`escape_item`, an encoder lookup, then the encoder. A worker's batch sends about 600 values
per event (order lines, pairs, products), and that chain was the largest single cost of the
worker's client CPU (issue #17). `FastCursor` renders str, int, Decimal, None and naive
datetime directly, exactly as PyMySQL's own encoders do (the same text; a test compares them),
and hands every other value (bool, float, bytes, dates, aware datetimes, non-finite Decimals)
to the connection's `escape` as before. Strings still go through the connection's own string
escaping, which follows the session's NO_BACKSLASH_ESCAPES mode.

`storage.db.make_engine` passes it as `cursorclass` for `mysql+pymysql://` URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pymysql import err
from pymysql.cursors import Cursor


def fast_escape(conn: Any) -> Callable[[Any], str]:
    """`conn.escape` with direct paths for the types ingestion sends most."""
    escape, escape_string = conn.escape, conn._escape_string

    def literal(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return "'" + escape_string(value) + "'"
        if kind is int:
            return str(value)
        if kind is Decimal and value.is_finite():
            return format(value, "f")
        if value is None:
            return "NULL"
        if kind is datetime and value.tzinfo is None:
            # PyMySQL's escape_datetime: the fraction only when there is one, as isoformat.
            return "'" + value.isoformat(" ") + "'"
        return escape(value)

    return literal


class FastCursor(Cursor):
    """`pymysql.cursors.Cursor` whose parameters are rendered by `fast_escape`."""

    def _mogrify(self, query: str, args: Any) -> str:
        if not isinstance(args, dict | list | tuple):
            return super()._mogrify(query, args)
        literal = fast_escape(self._get_db())
        if isinstance(args, dict):
            escaped: Any = {key: literal(item) for key, item in args.items()}
        else:
            escaped = tuple(map(literal, args))
        try:
            return query % escaped
        except TypeError as exc:
            raise err.ProgrammingError(str(exc)) from None
