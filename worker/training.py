"""Training on the ``train`` queue: a nightly retrain from scratch, and fine-tuning in between.

Both read the counted purchases of the training window from the database
(`storage.training_data.load_interactions`), save a new model version under
``DMFREC_MODEL_DIR/<version>``, register it in ``model_versions`` and publish it
(`worker.versions.publish_model_version`: every list, then the atomic switch).

Fine-tuning keeps the active model's weights and index: customers and SKUs that appeared since
get new first-layer rows (the towers grow), every row is refreshed from the database, and a few
epochs adapt a copy of the weights. The nightly retrain starts over, so old drift cannot
accumulate. Both go live only through the same promotion gate (`worker.gate`).

One training run at a time across every host: both hold a Redis lock (redis-py's `Lock`, a
token checked on release) for the run, with a short TTL renewed by a heartbeat; a second run
finds it taken and returns at once (the nightly task first waits up to two TTLs for it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import redis as redis_lib
import scipy.sparse as sp
from redis.exceptions import LockError, LockNotOwnedError

from model.artifact import new_version_id
from model.interactions import Interactions
from model.validation import stopping_split
from storage.db import run_transaction
from storage.ingestion import utcnow
from storage.models import ModelVersion
from storage.training_data import load_interactions
from worker import gate, publish, triggers
from worker.runtime import LoadedModel, Runtime, load_model
from worker.versions import publish_model_version

log = logging.getLogger("dmfrec.worker")
TRAIN_LOCK = f"{publish.PREFIX}:train:lock"


@contextmanager
def train_lock(rt: Runtime, also: tuple[str, ...] = (), wait_s: float = 0) -> Iterator[bool]:
    """Yields whether this process holds the training lock, waiting for it up to `wait_s`.

    The lock lives DMFREC_TRAIN_LOCK_TTL_S and a heartbeat thread renews it every third of
    that while the run lives: a run killed with the lock held (OOM, SIGKILL) frees it within
    the TTL, and a run longer than the TTL keeps it. Keys in `also` (the fine-tune trigger's
    claim) get the same TTL and renewals, so they do not outlive a killed run either.
    """
    ttl = max(int(rt.settings.train_lock_ttl_s), 1)
    # Not thread-local: the heartbeat thread renews the token this thread acquired.
    lock = rt.redis.lock(TRAIN_LOCK, timeout=ttl, blocking=False, thread_local=False)
    if not lock.acquire(blocking=wait_s > 0, blocking_timeout=wait_s or None):
        yield False
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(rt.redis, lock, ttl, also, stop),
                            name="train-lock-heartbeat", daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join()
        with contextlib.suppress(LockError):
            lock.release()


def _heartbeat(r, lock, ttl: int, also: tuple[str, ...], stop: threading.Event) -> None:
    """Renew the lock (and `also`) to the full TTL every ttl/3 s until `stop`."""
    pending = list(also)
    while True:
        for key in pending:
            with contextlib.suppress(redis_lib.RedisError):
                r.expire(key, ttl)
        if stop.wait(ttl / 3):
            return
        try:
            lock.reacquire()
        except LockNotOwnedError:
            log.error("training lock lost (expired before its renewal); another run may start")
            return
        except redis_lib.RedisError:  # Redis unreachable for a moment: try again next beat
            log.warning("could not renew the training lock", exc_info=True)


def _data(rt: Runtime, window_days: int | None = None,
          until: datetime | None = None) -> Interactions:
    days = rt.settings.window_days if window_days is None else window_days
    return load_interactions(rt.engine, window_days=days, value=rt.settings.value_scheme,
                             until=until, policy=rt.policy)


def _save_register_publish(rt: Runtime, model, customers: list[str], skus: list[str],
                           kind: str, parent: str | None = None,
                           verdict: gate.Verdict | None = None,
                           data_at: datetime | None = None) -> dict:
    """Save and register the model; publish it unless the gate rejected it. `data_at`: when
    its rows were read (the window's end; orders applied later are folded in on publish)."""
    promote = verdict is None or verdict.promote
    version = new_version_id()
    model.version = version
    path = rt.model_path_for_new(version)
    now = utcnow()
    data_at = data_at or now
    model.save(path, metadata={
        "customer_ids": customers, "skus": skus, "kind": kind, "parent_version": parent,
        "window_days": rt.settings.window_days, "value_scheme": rt.settings.value_scheme,
        "history": model.history, "gate": verdict.as_dict() if verdict else None,
    })

    def register(session) -> None:
        session.add(ModelVersion(
            version=version, status="candidate" if promote else "rejected",
            artifact_path=str(path), metrics={"gate": verdict.as_dict()} if verdict else None,
            window_start=data_at - timedelta(days=rt.settings.window_days) if
            rt.settings.window_days > 0 else None,
            window_end=data_at, n_users=len(customers), n_items=len(skus),
            n_interactions=int(model.matrix.nnz), created_at=now,
            notes=f"{kind}" + (f" of {parent}" if parent else ""),
        ))

    run_transaction(rt.engine, register)
    log.info("model trained", extra={"version": version, "kind": kind, "n_users": len(customers),
                                     "n_items": len(skus), "nnz": int(model.matrix.nnz),
                                     "gate": verdict.as_dict() if verdict else None})
    if not promote:
        log.warning("candidate rejected by the promotion gate",
                    extra={"version": version, "reason": verdict.reason})
        return {"version": version, "status": "rejected", "gate": verdict.as_dict()}
    summary = publish_model_version(rt, version)
    return {**summary, "gate": verdict.as_dict()} if verdict else summary


def nightly_retrain(rt: Runtime, *, progress: bool = False, wait_s: float = 0) -> dict:
    """Train from scratch; publish the candidate only if the promotion gate lets it through.
    `progress`: show the training progress bar (the demo; workers log instead). `wait_s`: wait
    this long for the lock (the nightly task waits two TTLs: a killed run's lock expires
    within one, so tonight's retrain is not lost to it)."""
    with train_lock(rt, wait_s=wait_s) as held:
        if not held:
            log.info("another training run holds the lock; skipped")
            return {"status": "locked"}
        seen = triggers.events_since_training(rt.redis)
        summary = _retrain(rt, progress)
        triggers.training_done(rt.redis, seen)
        return summary


def _retrain(rt: Runtime, progress: bool = False) -> dict:
    from model.recommender import DMF

    s = rt.settings
    now = utcnow()
    full = _data(rt, until=now)
    if full.nnz == 0:
        log.warning("no purchases in the training window; nothing trained")
        return {"status": "no data"}
    # Train on the window ending at the cutoff; judge on what was bought after it.
    before, holdout = _holdout(rt, full, now)
    overrides = {"epochs": s.train_epochs, "members": s.train_members,
                 "patience": s.train_patience, "precision": s.train_precision}
    model = DMF(**{k: v for k, v in overrides.items() if v})
    customers = [str(u) for u in before.user_ids.tolist()]
    skus = [str(x) for x in before.item_ids.tolist()]
    active = rt.active_model()
    # Warm start: the active model's weights for the customers and SKUs it knows (newcomers
    # start fresh); stop early on a held-out slice of latest purchases, then serve them all.
    warm = None if active is None or not s.train_warm_start else (
        active.model, _rows_in(customers, active.customer_index),
        _rows_in(skus, active.sku_index))
    inner, stop_on = stopping_split(before)
    model.fit(inner, progress=progress, validation=stop_on, warm_start=warm)
    model.set_matrix(before.matrix)
    model.metadata["warm_start_from"] = active.version if warm else None
    verdict = judge(rt, model, skus, holdout)
    # Serve on today's rows: customers and SKUs newer than the cutoff grow the towers.
    customers, skus = _adopt(model, full, customers, skus)
    return _save_register_publish(rt, model, customers, skus, "retrain",
                                  verdict=verdict, data_at=now)


def _holdout(rt: Runtime, full: Interactions, now: datetime
             ) -> tuple[Interactions, gate.Holdout]:
    """The window up to the gate's cutoff, and the holdout of the purchases after it (empty
    when DMFREC_GATE_HOLDOUT_DAYS is 0 or nothing is older than the cutoff)."""
    days = rt.settings.gate_holdout_days
    if days > 0:
        earlier = _data(rt, until=now - timedelta(days=days))
        if earlier.nnz > 0:
            return earlier, gate.make_holdout(earlier, _data(rt, days, until=now))
    return full, gate.make_holdout(full, full)  # empty: nothing is new


def judge(rt: Runtime, model, skus: list[str], holdout: gate.Holdout) -> gate.Verdict:
    """The promotion gate: `model` (ranking `skus`) against the active model on `holdout`."""
    s = rt.settings
    active = rt.active_model()
    verdict = gate.judge(
        gate.recall_at_k(model, skus, holdout, s.top_n),
        None if active is None else gate.recall_at_k(active.model, active.skus, holdout,
                                                     s.top_n),
        len(holdout), s.gate_tolerance, f"Recall@{s.top_n}",
    )
    log.info("promotion gate", extra=verdict.as_dict())
    return verdict


def _rows_in(keys: list[str], index: dict[str, int]) -> np.ndarray:
    """Each key's row in a model's index, -1 where the model does not know it."""
    return np.array([index.get(k, -1) for k in keys], dtype=np.int64)


def _adopt(model, data: Interactions, customers: list[str], skus: list[str]
           ) -> tuple[list[str], list[str]]:
    """Give `model` the rows of `data`, in its own order with newcomers appended (grown);
    returns the grown customer and SKU orders."""
    matrix, customers, skus = aligned_matrix(data, customers, skus)
    if len(customers) > model.n_users:
        model.add_users(len(customers) - model.n_users)
    if len(skus) > model.n_items:
        model.add_items(len(skus) - model.n_items)
    model.set_matrix(matrix)
    return customers, skus


def aligned_matrix(data: Interactions, customers: list[str], skus: list[str]
                   ) -> tuple[sp.csr_matrix, list[str], list[str]]:
    """`data` re-indexed to the model's customer and SKU order, newcomers appended at the end.

    Customers and SKUs the model knows but the window no longer holds keep empty rows/columns.
    """
    customers, skus = list(customers), list(skus)
    c_index = {c: k for k, c in enumerate(customers)}
    s_index = {s: k for k, s in enumerate(skus)}
    for c in (str(u) for u in data.user_ids.tolist()):
        if c not in c_index:
            c_index[c] = len(customers)
            customers.append(c)
    for s in (str(i) for i in data.item_ids.tolist()):
        if s not in s_index:
            s_index[s] = len(skus)
            skus.append(s)
    coo = data.matrix.tocoo()
    rows = np.array([c_index[str(u)] for u in data.user_ids.tolist()], dtype=np.int64)[coo.row]
    cols = np.array([s_index[str(i)] for i in data.item_ids.tolist()], dtype=np.int64)[coo.col]
    matrix = sp.csr_matrix((coo.data, (rows, cols)), shape=(len(customers), len(skus)),
                           dtype=np.float32)
    return matrix, customers, skus


def fine_tune(rt: Runtime, *, if_needed: bool = False) -> dict:
    """A few more epochs for the active model on today's data; newcomers grow the towers.

    `if_needed`: skip when no event was applied since the last training run (a trigger that
    fired twice runs once).
    """
    with train_lock(rt, also=(triggers.QUEUED,)) as held:
        if not held:
            log.info("another training run holds the lock; skipped")
            return {"status": "locked"}
        seen = triggers.events_since_training(rt.redis)
        if if_needed and seen == 0:
            return {"status": "not needed"}
        if rt.active_model() is None:
            log.info("no active model to fine-tune; retraining instead")
            summary = _retrain(rt)
        else:
            summary = _fine_tune(rt)
        triggers.training_done(rt.redis, seen)
        return summary


@dataclass
class Tuned:
    """A fine-tuned copy of the active model, with what it was tuned on."""

    active: LoadedModel
    model: Any
    customers: list[str]
    skus: list[str]
    data: Interactions
    data_at: datetime


def tuned_copy(rt: Runtime) -> Tuned:
    """A fresh copy of the active model fine-tuned on today's rows; the active model itself
    stays untouched, to be judged against."""
    active = rt.active_model()
    data_at = utcnow()
    data = _data(rt, until=data_at)
    model = load_model(rt.model_path(active.version), active.version).model
    customers, skus = _adopt(model, data, list(active.customer_index), active.skus)
    if data.nnz:
        model.train_epochs(rt.settings.fine_tune_epochs, progress=False,
                           seed_offset=int(datetime.now().timestamp()) % 100_000)
    return Tuned(active, model, customers, skus, data, data_at)


def _fine_tune(rt: Runtime) -> dict:
    return gate_and_publish(rt, tuned_copy(rt))


def gate_and_publish(rt: Runtime, tuned: Tuned) -> dict:
    """The same gate as the nightly retrain: a fine-tune that made the model worse on the
    latest days' new purchases is registered as rejected and never published."""
    if tuned.data.nnz == 0:
        return {"status": "no data"}
    _, holdout = _holdout(rt, tuned.data, tuned.data_at)
    verdict = judge(rt, tuned.model, tuned.skus, holdout)
    return _save_register_publish(rt, tuned.model, tuned.customers, tuned.skus, "fine-tune",
                                  tuned.active.version, verdict=verdict,
                                  data_at=tuned.data_at)
