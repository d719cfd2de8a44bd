"""Model versions and training input details, on MariaDB and SQLite."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from storage_oracle import event, item, order

from storage.ingestion import Policy, ingest
from storage.models import ModelVersion
from storage.training_data import load_interactions


def test_model_versions_round_trip_and_status_check(engine):
    now = datetime(2024, 5, 1, 12, 0, 0, 123456)
    with Session(engine) as s, s.begin():
        s.add(ModelVersion(version="v1", status="candidate", artifact_path="var/models/v1",
                           metrics={"hr@10": 0.71, "ndcg@10": 0.43}, window_start=now,
                           window_end=now, created_at=now))
    with Session(engine) as s:
        v = s.scalars(select(ModelVersion)).one()
        assert v.metrics == {"hr@10": 0.71, "ndcg@10": 0.43}
        assert v.created_at == now  # microseconds kept on MariaDB too
    # SQLite: IntegrityError; MariaDB reports a failed CHECK as error 4025 (OperationalError).
    with pytest.raises((IntegrityError, OperationalError)), Session(engine) as s, s.begin():
        s.add(ModelVersion(version="v2", status="deployed", artifact_path="x", created_at=now))


def test_load_interactions_values_and_window(engine):
    policy = Policy()
    ingest(engine, [
        event("a", order(1, [item(1, "A", 3, 2), item(2, "B", 1, 10)], customer_id=1,
                         created="2024-03-01 10:00:00")),
        event("b", order(2, [item(3, "A", 1, 2)], customer_id=2, created="2024-01-01 10:00:00")),
        event("c", order(3, [item(4, "C", 1, 5)], customer_id=3, state="holded",
                         created="2024-03-01 11:00:00")),
    ], policy)
    until = datetime(2024, 3, 2)
    m = load_interactions(engine, window_days=30, value="quantity", until=until, policy=policy)
    assert m.user_ids.tolist() == ["1"] and m.item_ids.tolist() == ["A", "B"]
    assert m.matrix.toarray().tolist() == [[3.0, 1.0]]
    amount = load_interactions(engine, window_days=0, value="amount", policy=policy)
    assert amount.shape == (2, 2) and amount.nnz == 3
    assert amount.matrix[amount.user_index("1"), amount.item_index("B")] == 10.0
    log = load_interactions(engine, window_days=30, until=until, policy=policy)
    assert np.allclose(log.matrix.toarray(), np.log1p([[3.0, 1.0]]))
    empty = load_interactions(engine, window_days=30, until=datetime(2023, 1, 1), policy=policy)
    assert empty.shape == (0, 0)
