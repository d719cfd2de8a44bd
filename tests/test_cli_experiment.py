"""`dmfrec experiment start|report|stop` on a SQLite file and the real Redis."""

from __future__ import annotations

import pytest

from cli.main import main
from config import get_settings
from storage import experiments
from storage.db import make_engine
from storage.models import Base
from tests.conftest import TEST_REDIS_URL


@pytest.fixture
def env(tmp_path, monkeypatch, r):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    monkeypatch.setenv("DMFREC_DATABASE_URL", url)
    monkeypatch.setenv("DMFREC_REDIS_URL", TEST_REDIS_URL)
    get_settings.cache_clear()
    yield r
    get_settings.cache_clear()


def test_start_report_stop(env, capsys):
    assert main(["experiment", "report"]) == 2
    assert "no experiment has been started" in capsys.readouterr().err
    assert main(["experiment", "start", "ab1", "--arms", "dmf=70,bogus=30"]) == 2
    assert "unknown arm 'bogus'" in capsys.readouterr().err
    assert main(["experiment", "start", "ab1", "--arms", "dmf=70,popular=30"]) == 0
    assert experiments.read_config(env)["arms"] == [["dmf", 70.0], ["popular", 30.0]]
    assert main(["experiment", "start", "ab2"]) == 2
    assert "'ab1' is running" in capsys.readouterr().err
    assert main(["experiment", "report"]) == 0
    out = capsys.readouterr().out
    assert "experiment ab1 (running)" in out and "dmf vs popular" in out
    assert main(["experiment", "stop"]) == 2
    assert main(["experiment", "stop", "--winner", "magento"]) == 2
    assert "not an arm" in capsys.readouterr().err
    assert main(["experiment", "stop", "--winner", "popular"]) == 0
    assert experiments.read_config(env) == {"name": "ab1", "status": "stopped",
                                            "winner": "popular"}
    assert experiments.assign(experiments.read_config(env), "42").arm == "popular"


def test_assignment_is_stable_and_follows_the_shares():
    config = {"name": "x", "status": "running", "salt": "s1",
              "arms": [["dmf", 80], ["popular", 20]]}
    arms = [experiments.assign(config, str(c)).arm for c in range(5000)]
    assert arms == [experiments.assign(config, str(c)).arm for c in range(5000)]
    assert 0.77 < arms.count("dmf") / len(arms) < 0.83
    other = [experiments.assign(config | {"salt": "s2"}, str(c)).arm for c in range(5000)]
    assert arms != other  # a new salt reshuffles


def test_report_figures_and_a_rolled_up_period_flagged(env, capsys):
    """Per arm: visitors (subjects shown a list), CTR, conversion, revenue per visitor; once
    raw rows are rolled up the report says it is partial instead of passing as whole."""
    from datetime import timedelta
    from decimal import Decimal

    from sqlalchemy import insert

    from storage.analytics import record_events, roll_up
    from storage.analytics_models import AttributedLine
    from storage.experiment_report import report
    from storage.ingestion import utcnow

    engine = make_engine(get_settings().database_url)
    experiments.start(engine, env, "ab", experiments.parse_arms("dmf=50,popular=50"))
    at = utcnow() - timedelta(hours=1)
    rows = [{"rec_id": f"{s:032d}", "sku": "A", "kind": "impression", "position": 1,
             "subject": str(s), "experiment": "ab", "arm": "dmf" if s <= 4 else "popular",
             "version": None, "at": at} for s in range(1, 9)]
    record_events(engine, [*rows, rows[0] | {"kind": "click"}])
    with engine.begin() as conn:
        conn.execute(insert(AttributedLine.__table__), [{
            "order_id": 1, "item_id": 1, "customer_key": "1", "sku": "A", "rec_id": "0" * 32,
            "experiment": "ab", "arm": "dmf", "amount": Decimal("30"), "ordered_at": at,
            "clicked_at": at}])
    arms = {a["arm"]: a for a in report(engine)["arms"]}
    assert {k: arms["dmf"][k] for k in ("visitors", "impressions", "clicks", "ctr",
                                        "converters", "conversion", "revenue",
                                        "revenue_per_visitor")} == {
        "visitors": 4, "impressions": 4, "clicks": 1, "ctr": 0.25, "converters": 1,
        "conversion": 0.25, "revenue": 30.0, "revenue_per_visitor": 7.5}
    assert (arms["popular"]["visitors"], arms["popular"]["clicks"]) == (4, 0)
    assert report(engine)["rolled_up_until"] is None
    assert roll_up(engine, 30, now=utcnow() + timedelta(days=40)) == 9
    assert report(engine)["rolled_up_until"] == at.date().isoformat()
    assert main(["experiment", "report", "ab"]) == 0
    assert f"partial: impressions and clicks up to {at.date()}" in capsys.readouterr().out
    engine.dispose()
