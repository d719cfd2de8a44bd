"""Which database errors a task retries: outages yes, bad data no (real MariaDB and SQLite)."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy.exc
from sqlalchemy import create_engine, text

from storage.db import is_outage
from worker import tasks

SERVER = os.environ.get("DMFREC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _error(engine, sql: str | None = None) -> sqlalchemy.exc.DBAPIError:
    with pytest.raises(sqlalchemy.exc.DBAPIError) as info, engine.begin() as conn:
        if sql:
            for statement in sql.split(";"):
                conn.execute(text(statement))
    engine.dispose()
    return info.value


def test_unreachable_server_is_an_outage_and_retried():
    exc = _error(create_engine("mysql+pymysql://root@127.0.0.1:1/test"))  # connection refused
    assert exc.orig.args[0] == 2003 and is_outage(exc)
    with pytest.raises(tasks.DatabaseOutage), tasks.outages_retried():
        raise exc


def test_a_check_failure_is_not_an_outage_and_not_retried():
    table = f"t_{uuid.uuid4().hex[:8]}"
    exc = _error(create_engine(SERVER),
                 f"CREATE TEMPORARY TABLE {table} (j JSON); "
                 f"INSERT INTO {table} VALUES ('{{\"x\": NaN}}')")
    assert isinstance(exc, sqlalchemy.exc.OperationalError)
    assert exc.orig.args[0] == 4025 and not is_outage(exc)  # CONSTRAINT ... failed
    with pytest.raises(sqlalchemy.exc.OperationalError), tasks.outages_retried():
        raise exc


def test_sqlite_that_cannot_open_is_an_outage(tmp_path):
    exc = _error(create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}"), "SELECT 1")
    assert is_outage(exc)


def test_tasks_retry_outages_only():
    for task in (tasks.ingest_event, tasks.nightly_retrain, tasks.enqueue_pending):
        assert tasks.DatabaseOutage in task.autoretry_for
        assert sqlalchemy.exc.OperationalError not in task.autoretry_for
