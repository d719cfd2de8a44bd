"""A/B experiments: which arm a customer sees, decided by a stable salted hash.

An experiment's arms and shares live in the database (`experiments`) and, for the storefront
(which reads Redis only), in one Redis key, `dmfrec:experiment`: the running experiment, or
after a stop only its winner, which every customer then gets (the new default). Without the
key everybody gets DMF. The hash of (salt, subject) picks a point in [0, 1); the arms' shares
cut that interval in order, so a customer keeps their arm for the whole experiment and a new
salt (a new experiment) reshuffles everybody.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

import redis as redis_lib
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from storage.analytics_models import Experiment
from storage.db import run_transaction
from storage.ingestion import utcnow

KEY = "dmfrec:experiment"
ARMS = ("dmf", "popular", "magento")  # magento: the module's own related/up-sell links
DEFAULT_ARM = "dmf"


class ExperimentError(ValueError):
    """A bad experiment definition or command (the CLI prints it)."""


@dataclass(frozen=True)
class Assignment:
    experiment: str  # "" outside any experiment
    arm: str


def parse_arms(text: str) -> list[tuple[str, float]]:
    """``dmf=50,popular=50`` -> [("dmf", 50.0), ("popular", 50.0)], checked."""
    arms: list[tuple[str, float]] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, share = part.partition("=")
        name = name.strip()
        if name not in ARMS:
            raise ExperimentError(f"unknown arm {name!r} (known: {', '.join(ARMS)})")
        try:
            value = float(share)
        except ValueError:
            raise ExperimentError(f"arm {name}: share {share!r} is not a number") from None
        if not value > 0:
            raise ExperimentError(f"arm {name}: share must be positive")
        if name in dict(arms):
            raise ExperimentError(f"arm {name} given twice")
        arms.append((name, value))
    if len(arms) < 2:
        raise ExperimentError("an experiment needs at least two arms, e.g. dmf=50,popular=50")
    return arms


def bucket(salt: str, subject: str) -> float:
    """A stable point in [0, 1) for `subject` under `salt`."""
    digest = hashlib.sha256(f"{salt}\x00{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick(arms: list[tuple[str, float]], point: float) -> str:
    total = sum(share for _, share in arms)
    edge = 0.0
    for name, share in arms:
        edge += share / total
        if point < edge:
            return name
    return arms[-1][0]


def assign(config: dict | None, subject: str) -> Assignment:
    """The arm `subject` sees under the Redis config (None: no experiment ever ran)."""
    if not config:
        return Assignment("", DEFAULT_ARM)
    if config.get("status") != "running":
        return Assignment("", config.get("winner") or DEFAULT_ARM)
    arms = [(str(a), float(s)) for a, s in config["arms"]]
    return Assignment(config["name"], pick(arms, bucket(config["salt"], subject)))


def read_config(r: redis_lib.Redis) -> dict | None:
    raw = r.get(KEY)
    return json.loads(raw) if raw else None


def _config(row: Experiment) -> dict:
    if row.status == "running":
        return {"name": row.name, "salt": row.salt, "arms": row.arms, "status": "running"}
    return {"name": row.name, "status": "stopped", "winner": row.winner}


def start(engine: Engine, r: redis_lib.Redis, name: str, arms: list[tuple[str, float]]) -> dict:
    """Start experiment `name` (one runs at a time); returns the config now served."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise ExperimentError("the name must be 1-64 letters, digits, '-' or '_'")

    def work(session: Session) -> dict:
        if session.get(Experiment, name) is not None:
            raise ExperimentError(f"experiment {name!r} exists already; pick a new name")
        running = session.scalar(select(Experiment.name).where(Experiment.status == "running"))
        if running:
            raise ExperimentError(f"experiment {running!r} is running; stop it first")
        row = Experiment(name=name, salt=secrets.token_hex(16), arms=[list(a) for a in arms],
                         status="running", started_at=utcnow())
        session.add(row)
        return _config(row)

    config = run_transaction(engine, work)
    r.set(KEY, json.dumps(config))
    return config


def stop(engine: Engine, r: redis_lib.Redis, name: str, winner: str) -> dict:
    """Stop `name`; `winner` (one of its arms) becomes everybody's arm."""

    def work(session: Session) -> dict:
        row = session.get(Experiment, name, with_for_update=True)
        if row is None:
            raise ExperimentError(f"no experiment {name!r}")
        if winner not in [a for a, _ in row.arms]:
            raise ExperimentError(f"{winner!r} is not an arm of {name!r}")
        if row.status == "running":
            row.status, row.winner, row.stopped_at = "stopped", winner, utcnow()
        elif row.winner != winner:
            raise ExperimentError(f"{name!r} was stopped already with winner {row.winner!r}")
        return _config(row)

    config = run_transaction(engine, work)
    r.set(KEY, json.dumps(config))
    return config


def republish(engine: Engine, r: redis_lib.Redis) -> dict | None:
    """Write the database's config to Redis again (worker.recovery, after Redis lost it): the
    running experiment, else the newest one's winner; none recorded: the key goes (DMF)."""
    row = get(engine)
    if row is None:
        r.delete(KEY)
        return None
    config = _config(row)
    r.set(KEY, json.dumps(config))
    return config


def get(engine: Engine, name: str | None = None) -> Experiment | None:
    """Experiment `name`, or (None) the running one, else the newest."""
    def work(session: Session) -> Experiment | None:
        if name:
            row = session.get(Experiment, name)
        else:
            row = session.scalar(select(Experiment).order_by(
                (Experiment.status == "running").desc(), Experiment.started_at.desc()).limit(1))
        if row is not None:
            session.expunge(row)
        return row

    return run_transaction(engine, work)
