"""Periodic tasks (``celery -A worker.celery_app beat``): the safety nets of the live loop."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab

from config.settings import Settings


def schedule(settings: Settings) -> dict:
    """The beat schedule; the pending sweep's period is ``DMFREC_PENDING_SWEEP_S``."""
    return {
        # Events recorded while the broker was down (or whose task was lost) are handed over.
        "enqueue-pending-events": {
            "task": "worker.tasks.enqueue_pending",
            "schedule": timedelta(seconds=settings.pending_sweep_s),
        },
        # Adobe events spooled in Redis while the database was down are recorded.
        "drain-spool": {
            "task": "worker.tasks.drain_spool",
            "schedule": timedelta(seconds=settings.pending_sweep_s),
        },
        **SCHEDULE,
    }


SCHEDULE = {
    # Popular lists also follow cancels and refunds that arrive without new orders.
    "refresh-popular": {
        "task": "worker.tasks.refresh_popular",
        "schedule": timedelta(minutes=10),
    },
    "refresh-hidden-skus": {
        "task": "worker.tasks.refresh_hidden_skus",
        "schedule": timedelta(minutes=15),
    },
    # Training (train queue, GPU worker). `expires`: a run no worker picked up is dropped
    # rather than piling up behind the next one.
    "nightly-retrain": {
        "task": "worker.tasks.nightly_retrain",
        "schedule": crontab(hour=3, minute=0),
        "options": {"expires": 6 * 3600},
    },
    # Cheap check on the ingest queue; it enqueues a fine-tune (train queue) when one is due
    # (DMFREC_FINE_TUNE_AFTER_EVENTS / _MINUTES). Ingestion also enqueues one on the count.
    "maybe-fine-tune": {
        "task": "worker.tasks.maybe_fine_tune",
        "schedule": timedelta(seconds=60),
    },
    # A Redis restarted without its data: bought sets, the database's active version and
    # the fold-ins since its training are rebuilt (worker.recovery).
    # Erased customers leave every retained artifact (the admin endpoint also queues this).
    "scrub-artifacts": {
        "task": "worker.tasks.scrub_artifacts",
        "schedule": crontab(hour=4, minute=30),
    },
    # Processed events past DMFREC_EVENT_RETENTION_DAYS, artifacts past DMFREC_ARTIFACTS_KEPT.
    "retention": {
        "task": "worker.tasks.retention",
        "schedule": crontab(hour=4, minute=45),
    },
    # issue 18: raw impressions/clicks past DMFREC_ANALYTICS_RAW_DAYS become daily counts.
    "analytics-roll-up": {
        "task": "worker.tasks.analytics_roll_up",
        "schedule": crontab(hour=4, minute=50),
    },
    "restore-active-version": {
        "task": "worker.tasks.restore_active_version",
        "schedule": timedelta(seconds=60),
    },
}
