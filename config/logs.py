"""JSON log lines (one object per line) that carry the event id; used by web and worker alike.

`log_context(event_id=...)` binds fields for the code it wraps (a request, a task), and every
record logged inside gets them, so one grep for an event id follows it from the webhook through
ingestion to publishing. Fields passed with ``extra=`` are included too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "dmfrec_log_context", default=None
)
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every record logged inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def reset(**fields: Any) -> None:
    """Start a fresh context (at the start of each request or task: nothing leaks across)."""
    _context.set(dict(fields))


def bind(**fields: Any) -> None:
    """Add `fields` to the current context until it ends (e.g. once the event id is known)."""
    _context.set({**(_context.get() or {}), **fields})


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: time, level, logger, message, context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_context.get() or {})
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure(level: str | int = "INFO", logger_name: str = "dmfrec") -> None:
    """Send `logger_name` records to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(getattr(h, "_dmfrec_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._dmfrec_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
