"""Alembic migrations: empty -> head -> base -> head on MariaDB and SQLite; models agree."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import PrimaryKeyConstraint, inspect
from storage_dbs import REPO_ROOT, fresh_url

from storage import schema
from storage.db import make_engine
from storage.models import Base

TABLES = {"orders", "order_lines", "events", "interactions", "products", "model_versions",
          "rec_events", "rec_daily", "attributed_lines", "experiments"}  # issue 18


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def _constraint_names(url: str) -> set[str]:
    """Names of the constraints and indexes the database holds (not compared by Alembic)."""
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        names = set()
        for table in TABLES:
            names |= {c["name"] for c in insp.get_check_constraints(table)}
            names |= {c["name"] for c in insp.get_unique_constraints(table)}
            names |= {c["name"] for c in insp.get_indexes(table)}
            names |= {c["name"] for c in insp.get_foreign_keys(table)}
        return names - {None}
    finally:
        engine.dispose()


def _model_constraint_names() -> set[str]:
    names = set()
    for table in Base.metadata.sorted_tables:
        names |= {c.name for c in table.constraints if not isinstance(c, PrimaryKeyConstraint)}
        names |= {i.name for i in table.indexes}
    return names


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("db", ["mariadb", "sqlite"])
def test_up_down_up_and_models_agree(db, mariadb, sqlite_dir):
    url = fresh_url(db, mariadb, sqlite_dir, "mig_")
    assert _tables(url) == set()
    schema.upgrade(url)
    assert _tables(url) == TABLES | {"alembic_version"}
    assert _diff(url) == []
    if db == "mariadb":  # SQLite does not report every constraint name
        assert _constraint_names(url) == _model_constraint_names()
    schema.downgrade(url, "base")
    assert _tables(url) == {"alembic_version"}
    schema.upgrade(url)
    assert _diff(url) == []
    assert schema.has_schema(url)


@pytest.mark.parametrize("db", ["mariadb", "sqlite"])
def test_alembic_cli_from_repo_root(db, mariadb, sqlite_dir):
    """`alembic upgrade head` from the repository root, URL from DMFREC_DATABASE_URL."""
    url = fresh_url(db, mariadb, sqlite_dir, "cli_")
    env = os.environ | {"DMFREC_DATABASE_URL": url}
    alembic = [sys.executable, "-m", "alembic"]
    for args in (["upgrade", "head"], ["check"]):
        done = subprocess.run(alembic + args, cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert _tables(url) == TABLES | {"alembic_version"}


def test_diff_detects_a_mismatch(mariadb, sqlite_dir):
    """The agreement check is not vacuous: a column changed behind Alembic's back shows up."""
    url = fresh_url("mariadb", mariadb, sqlite_dir, "drift_")
    schema.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE products MODIFY name VARCHAR(100)")
    engine.dispose()
    assert any(op[0][0] == "modify_type" for op in _diff(url) if isinstance(op, list))
