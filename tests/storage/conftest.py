"""Fixtures of the storage tests: real MariaDB and SQLite databases (see storage_dbs.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from storage_dbs import BACKENDS, MariaDB, clean, fresh_url

from storage import schema
from storage.db import make_engine


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    server = MariaDB()
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def sqlite_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sqlite")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def migrated_engines(mariadb, sqlite_dir) -> Iterator[dict[str, Engine]]:
    """One migrated database per backend for the whole session (tests clean the tables)."""
    engines = {}
    for name in BACKENDS:
        url = fresh_url(name, mariadb, sqlite_dir, "m_")
        schema.upgrade(url)
        engines[name] = make_engine(url)
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def engine(backend, migrated_engines) -> Engine:
    """A migrated, empty database of the current backend."""
    engine = migrated_engines[backend]
    clean(engine)
    return engine
