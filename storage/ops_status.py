"""What the merchant dashboard shows beside the analytics: the active model version, the
last retrain and its gate figures, events pending and how fresh the applied data is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from storage.db import run_transaction
from storage.ingestion import utcnow
from storage.models import Event, ModelVersion


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _version(row: ModelVersion | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"version": row.version, "status": row.status, "created_at": _iso(row.created_at),
            "activated_at": _iso(row.activated_at), "n_users": row.n_users,
            "n_items": row.n_items, "gate": (row.metrics or {}).get("gate")}


def status(engine: Engine) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        now = utcnow()
        active = session.scalar(select(ModelVersion).where(ModelVersion.status == "active")
                                .order_by(ModelVersion.activated_at.desc()).limit(1))
        last = session.scalar(select(ModelVersion).order_by(ModelVersion.created_at.desc())
                              .limit(1))
        pending, oldest = session.execute(
            select(func.count(), func.min(Event.received_at))
            .where(Event.status == "pending")).one()
        applied = session.scalar(select(func.max(Event.processed_at))
                                 .where(Event.status == "applied"))
        return {
            "active_model": _version(active), "last_retrain": _version(last),
            "events_pending": int(pending),
            "oldest_pending_s": None if oldest is None else (now - oldest).total_seconds(),
            "last_applied_at": _iso(applied),
            "last_applied_s": None if applied is None else (now - applied).total_seconds(),
        }

    return run_transaction(engine, work)
