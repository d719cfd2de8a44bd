"""Publishing a whole model version: every customer's list and every SKU's similar list, then
the atomic switch (worker.publish.activate_version).

Runs on the ``train`` queue (``worker.tasks.publish_version``) after a model is trained to
``DMFREC_MODEL_DIR/<version>`` (``dmfrec train --out var/models/<version>``) or registered in
``model_versions``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select, update

from storage.db import run_transaction
from storage.models import ModelVersion
from worker import live, publish
from worker.runtime import ERASED, LoadedModel, Runtime, load_model

log = logging.getLogger("dmfrec.worker")
CHUNK = 2000


def user_lists(loaded: LoadedModel, n: int) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """(customer, top-n (sku, score)), bought SKUs left out, one block of customers at a time
    (the model's recommend_all): a shop's lists are written as they come, never all held at
    once (about 9 KB per customer as Python objects: 8 GiB at a million customers)."""
    customers = list(loaded.customer_index)
    for users, items, scores in loaded.model.recommend_all(n=n):
        for u, row_items, row_scores in zip(users, items, scores, strict=True):
            if customers[int(u)].startswith(ERASED):
                continue  # an erased customer's blanked row
            yield customers[int(u)], [
                (loaded.skus[int(i)], float(s))
                for i, s in zip(row_items, row_scores, strict=True) if np.isfinite(s)
            ]


def similar_lists(loaded: LoadedModel, n: int) -> dict[str, list[tuple[str, float]]]:
    """sku -> the n most similar SKUs (cosine of the item tower's outputs)."""
    out = {}
    for k, sku in enumerate(loaded.skus):
        items, scores = loaded.model.similar_items(k, n=n)
        out[sku] = [(loaded.skus[int(i)], float(s))
                    for i, s in zip(items, scores, strict=True) if int(i) != k and np.isfinite(s)]
    return out


def publish_model_version(rt: Runtime, version: str) -> dict:
    """Write every list of `version`, then make it the version readers use."""
    publish.check_version(version)
    loaded = load_model(rt.model_path(version), version)
    n = rt.settings.publish_n
    ttl = rt.settings.pending_ttl_s
    n_users = publish.publish_user_lists(rt.redis, version, user_lists(loaded, n),
                                         pending_ttl_s=ttl, chunk=CHUNK)
    similar = similar_lists(loaded, n)
    publish.publish_similar(rt.redis, version, similar, pending_ttl_s=ttl, chunk=CHUNK)
    previous = publish.activate_version(
        rt.redis, version, ttl_old=rt.settings.version_ttl_s, keep=rt.settings.versions_kept,
        meta={"n_users": n_users, "n_items": len(similar)},
    )
    _record_activation(rt, version, previous)
    # The artifact's rows are those of its training data: customers whose orders were
    # applied since then get a fold-in of today's rows (the worker's fold-ins meanwhile went
    # to the version active then, or nowhere while Redis was empty).
    since = _data_read_at(rt, version)
    folded = 0 if since is None else live.refresh_since(rt, since)
    log.info("model version published", extra={"version": version, "previous": previous,
                                               "n_users": n_users, "n_items": len(similar),
                                               "folded_in": folded})
    return {"version": version, "previous": previous, "n_users": n_users,
            "n_items": len(similar), "folded_in": folded}


def _data_read_at(rt: Runtime, version: str) -> datetime | None:
    """When the version's training data was read (``model_versions.window_end``)."""
    with rt.reading() as session:
        return session.scalar(select(ModelVersion.window_end)
                              .where(ModelVersion.version == version))


def _record_activation(rt: Runtime, version: str, previous: str | None) -> None:
    """Mirror the switch in ``model_versions`` (rows that exist): new active, old retired."""
    now = datetime.now(UTC).replace(tzinfo=None)

    def work(session) -> None:
        if previous and previous != version:
            session.execute(update(ModelVersion)
                            .where(ModelVersion.version == previous,
                                   ModelVersion.status == "active")
                            .values(status="retired", retired_at=now))
        session.execute(update(ModelVersion).where(ModelVersion.version == version)
                        .values(status="active", activated_at=now))

    run_transaction(rt.engine, work)
