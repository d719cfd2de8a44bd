"""Training on the ``train`` queue: a nightly retrain from scratch, and fine-tuning in between.

Both read the counted purchases of the training window from the database
(`storage.training_data.load_interactions`), save a new model version under
``DMFREC_MODEL_DIR/<version>``, register it in ``model_versions`` and publish it
(`worker.versions.publish_model_version`: every list, then the atomic switch).

Fine-tuning keeps the active model's weights and index: customers and SKUs that appeared since
get new first-layer rows (the towers grow), every row is refreshed from the database, and a few
epochs adapt the weights. The nightly retrain starts over, so old drift cannot accumulate.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp

from model.artifact import new_version_id
from model.interactions import Interactions
from storage.db import run_transaction
from storage.ingestion import utcnow
from storage.models import ModelVersion
from storage.training_data import load_interactions
from worker.runtime import Runtime
from worker.versions import publish_model_version

log = logging.getLogger("dmfrec.worker")


def _data(rt: Runtime) -> Interactions:
    return load_interactions(rt.engine, window_days=rt.settings.window_days,
                             value=rt.settings.value_scheme, policy=rt.policy)


def _save_register_publish(rt: Runtime, model, customers: list[str], skus: list[str],
                           kind: str, parent: str | None = None) -> dict:
    version = new_version_id()
    model.version = version
    path = rt.model_path_for_new(version)
    now = utcnow()
    model.save(path, metadata={
        "customer_ids": customers, "skus": skus, "kind": kind, "parent_version": parent,
        "window_days": rt.settings.window_days, "value_scheme": rt.settings.value_scheme,
        "history": model.history,
    })

    def register(session) -> None:
        session.add(ModelVersion(
            version=version, status="candidate", artifact_path=str(path),
            window_start=now - timedelta(days=rt.settings.window_days) if
            rt.settings.window_days > 0 else None,
            window_end=now, n_users=len(customers), n_items=len(skus),
            n_interactions=int(model.matrix.nnz), created_at=now,
            notes=f"{kind}" + (f" of {parent}" if parent else ""),
        ))

    run_transaction(rt.engine, register)
    log.info("model trained", extra={"version": version, "kind": kind, "n_users": len(customers),
                                     "n_items": len(skus), "nnz": int(model.matrix.nnz)})
    return publish_model_version(rt, version)


def nightly_retrain(rt: Runtime) -> dict:
    """Train a new model from scratch on the window's purchases and publish it."""
    from model.recommender import DMF

    data = _data(rt)
    if data.nnz == 0:
        log.warning("no purchases in the training window; nothing trained")
        return {"status": "no data"}
    model = DMF(epochs=rt.settings.train_epochs) if rt.settings.train_epochs else DMF()
    model.fit(data.matrix, progress=False)
    return _save_register_publish(rt, model, [str(u) for u in data.user_ids.tolist()],
                                  [str(s) for s in data.item_ids.tolist()], "retrain")


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


def fine_tune(rt: Runtime) -> dict:
    """A few more epochs for the active model on today's data; newcomers grow the towers."""
    loaded = rt.active_model()
    if loaded is None:
        log.info("no active model to fine-tune; retraining instead")
        return nightly_retrain(rt)
    data = _data(rt)
    if data.nnz == 0:
        return {"status": "no data"}
    model = loaded.model
    customers = list(loaded.customer_index)
    matrix, customers, skus = aligned_matrix(data, customers, loaded.skus)
    if len(customers) > model.n_users:
        model.add_users(len(customers) - model.n_users)
    if len(skus) > model.n_items:
        model.add_items(len(skus) - model.n_items)
    model.set_matrix(matrix)
    model.train_epochs(rt.settings.fine_tune_epochs, progress=False,
                       seed_offset=int(datetime.now().timestamp()) % 100_000)
    rt.forget_model()  # the cached model's weights changed: reload the published one next time
    return _save_register_publish(rt, model, customers, skus, "fine-tune", loaded.version)
