"""Real test databases: fresh MariaDB databases on the local server, SQLite files.

MariaDB: `$DMFREC_TEST_MYSQL_URL` (default mysql+pymysql://root@127.0.0.1:3306/test) is the
server; each session creates `dmfrec_t_<random>` databases and drops them at the end. An
unreachable server fails the tests (it is not a reason to skip them).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete
from sqlalchemy.engine import make_url

from storage.models import Base

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_URL = os.environ.get("DMFREC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = ("mariadb", "sqlite")


class MariaDB:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self) -> None:
        self.server = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
        try:
            with self.server.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            pytest.fail(f"MariaDB at {SERVER_URL} is not reachable: {exc}")
        self.created: list[str] = []

    def new_database(self, tag: str = "") -> str:
        name = f"dmfrec_t_{tag}{uuid.uuid4().hex[:10]}"
        with self.server.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        self.created.append(name)
        return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.server.connect() as conn:
            for name in self.created:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        self.server.dispose()


def fresh_url(backend: str, mariadb: MariaDB, sqlite_dir: Path, tag: str = "") -> str:
    """An empty database of `backend`."""
    if backend == "mariadb":
        return mariadb.new_database(tag)
    return f"sqlite:///{sqlite_dir / f'{tag}{uuid.uuid4().hex[:10]}.db'}"


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def clean(engine: Engine) -> None:
    """Empty every dmfrec table (children first)."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
