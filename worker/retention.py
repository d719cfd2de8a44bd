"""Daily retention (beat's ``retention`` task): old events purged (storage.retention) and model
artifacts beyond the newest DMFREC_ARTIFACTS_KEPT pruned.

Each artifact holds every customer id and the purchase matrix (about 10 GiB at 1M customers
with 5 members), and a fine-tune makes one a few times a day. The active version and the
newest K registered versions keep their files (rollback: Redis keeps DMFREC_VERSIONS_KEPT
replaced versions readable, so K should exceed that); older ones are deleted and their rows say
so in ``notes``. Rows stay: they are the history of what was trained and promoted.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from sqlalchemy import select, update

from storage.db import run_transaction
from storage.models import ModelVersion
from storage.retention import purge_events
from worker import publish
from worker.runtime import Runtime

log = logging.getLogger("dmfrec.worker")
PRUNED = "artifact pruned"


def prune_artifacts(rt: Runtime, keep: int | None = None) -> list[str]:
    """Delete the artifacts of registered versions older than the newest `keep` (default
    DMFREC_ARTIFACTS_KEPT), never the active one's; returns the versions pruned."""
    keep = max(rt.settings.artifacts_kept if keep is None else keep, 1)
    active = publish.active_version(rt.redis)
    with rt.reading() as session:
        rows = session.execute(
            select(ModelVersion.version, ModelVersion.status, ModelVersion.artifact_path,
                   ModelVersion.notes)
            .order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())).all()
    pruned = []
    for row in rows[keep:]:
        if row.version == active or row.status == "active" or PRUNED in (row.notes or ""):
            continue
        path = Path(row.artifact_path)
        if path.is_dir():
            shutil.rmtree(path)
        pruned.append(row.version)

        def mark(session, version=row.version, notes=row.notes) -> None:
            session.execute(update(ModelVersion).where(ModelVersion.version == version)
                            .values(notes=f"{notes or ''}; {PRUNED}".lstrip("; ")))

        run_transaction(rt.engine, mark)
    if pruned:
        log.info("model artifacts pruned", extra={"versions": pruned, "kept": keep})
    return pruned


def run(rt: Runtime) -> dict:
    """Purge old events and prune old artifacts."""
    return {"events_purged": purge_events(rt.engine, rt.settings.event_retention_days),
            "artifacts_pruned": prune_artifacts(rt)}
