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
