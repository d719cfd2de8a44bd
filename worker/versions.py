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
from worker import publish
from worker.runtime import LoadedModel, Runtime, load_model

log = logging.getLogger("dmfrec.worker")
CHUNK = 2000
RESTORE_CLAIM = "dmfrec:restore:queued"  # one republish at a time (TTL: the claim's lifetime)


def user_lists(loaded: LoadedModel, n: int) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """(customer, top-n (sku, score)), bought SKUs left out, one block of customers at a time
    (the model's recommend_all): a shop's lists are written as they come, never all held at
    once (about 9 KB per customer as Python objects: 8 GiB at a million customers)."""
    customers = list(loaded.customer_index)
    for users, items, scores in loaded.model.recommend_all(n=n):
        for u, row_items, row_scores in zip(users, items, scores, strict=True):
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
    log.info("model version published", extra={"version": version, "previous": previous,
                                               "n_users": n_users, "n_items": len(similar)})
    return {"version": version, "previous": previous, "n_users": n_users,
            "n_items": len(similar)}


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


def version_to_restore(rt: Runtime, claim_ttl_s: int = 3600) -> str | None:
    """The version to publish again when Redis lost its data (restarted without persistence):
    no ``dmfrec:active_version`` there, while ``model_versions`` records an active version
    whose files exist. Fold-ins write only under the active version, so without this every
    customer's list would stay stale until the next nightly retrain. Claimed in Redis, so
    periodic checks queue it once."""
    if publish.active_version(rt.redis) is not None:
        return None
    with rt.reading() as session:
        version = session.scalar(select(ModelVersion.version)
                                 .where(ModelVersion.status == "active")
                                 .order_by(ModelVersion.activated_at.desc()).limit(1))
    if version is None or not rt.model_path(version).exists():
        return None
    if not rt.redis.set(RESTORE_CLAIM, version, nx=True, ex=claim_ttl_s):
        return None
    log.warning("no active version in Redis; publishing the database's active one again",
                extra={"version": version})
    return version
