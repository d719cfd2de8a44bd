"""Per-process connections of a worker: database sessions, Redis, and the active model.

Built lazily on first use, so each prefork child opens its own connections after the fork.
The active model is cached per version: a task reloads it only when the version changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis as redis_lib
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, get_settings
from storage.db import make_engine
from storage.ingestion import Policy
from storage.models import ModelVersion
from worker import publish

ERASED = "erased:"  # customer id placeholder of an erased customer's row (worker.erasure)


@dataclass
class LoadedModel:
    """A DMF model with its SKU and customer maps (from the metadata `dmfrec train` saves)."""

    version: str
    model: Any
    skus: list[str]
    sku_index: dict[str, int]
    customer_index: dict[str, int]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: redis_lib.Redis
    policy: Policy
    _model: LoadedModel | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessionmaker(engine, expire_on_commit=False),
            redis=redis_lib.Redis.from_url(settings.redis_url, decode_responses=True,
                                           socket_connect_timeout=5, socket_timeout=30),
            policy=Policy.from_settings(settings),
        )

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session; on SQLite it begins DEFERRED so it never waits for writers."""
        with self.sessions() as session:
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            yield session

    def model_path(self, version: str) -> Path:
        """The version's artifact: as registered in ``model_versions``, else the folder of that
        name under DMFREC_MODEL_DIR."""
        publish.check_version(version)
        with self.reading() as session:
            path = session.scalar(
                select(ModelVersion.artifact_path).where(ModelVersion.version == version)
            )
        return Path(path) if path else Path(self.settings.model_dir) / version

    def model_path_for_new(self, version: str) -> Path:
        """Where a newly trained version is saved."""
        return Path(self.settings.model_dir) / publish.check_version(version)

    def forget_model(self) -> None:
        """Drop the cached model (after changing its weights in place)."""
        with self._lock:
            self._model = None

    def active_model(self) -> LoadedModel | None:
        """The model of the version readers use now, or None when no version is active."""
        version = publish.active_version(self.redis)
        if version is None:
            return None
        with self._lock:
            if self._model is None or self._model.version != version:
                self._model = load_model(self.model_path(version), version)
            return self._model


def load_model(path: Path, version: str) -> LoadedModel:
    from model.recommender import DMF

    model = DMF.load(path)
    meta = model.metadata
    skus = [str(s) for s in meta.get("skus") or []]
    customers = [str(c) for c in meta.get("customer_ids") or []]
    if not skus:
        raise ValueError(f"model {path} has no SKU map in its metadata")
    return LoadedModel(version, model, skus, {s: k for k, s in enumerate(skus)},
                       {c: k for k, c in enumerate(customers)})


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """This process's runtime, from the ``DMFREC_*`` environment."""
    return Runtime.from_settings(get_settings())
