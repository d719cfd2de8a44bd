"""Run the Alembic migrations programmatically (tests, `dmfrec import --migrate`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from storage.db import as_engine

REPO = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    """The repository's alembic.ini, pointed at `url`, leaving the caller's logging alone."""
    cfg = Config(str(REPO / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def _url(engine_or_url: Engine | str | None) -> str:
    return as_engine(engine_or_url).url.render_as_string(hide_password=False)


def upgrade(engine_or_url: Engine | str | None, revision: str = "head") -> None:
    command.upgrade(alembic_config(_url(engine_or_url)), revision)


def downgrade(engine_or_url: Engine | str | None, revision: str = "base") -> None:
    command.downgrade(alembic_config(_url(engine_or_url)), revision)


def has_schema(engine_or_url: Engine | str | None) -> bool:
    """True when the ingestion tables exist (the migrations ran)."""
    names = set(inspect(as_engine(engine_or_url)).get_table_names())
    return {"orders", "order_lines", "interactions", "events"} <= names
