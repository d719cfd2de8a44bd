"""The Celery application: two queues, JSON only, tasks acknowledged after they finish.

``ingest`` carries small, frequent tasks (one webhook event each); ``train`` carries long ones
(fine-tuning, retraining) so a training run never delays ingestion. A worker killed mid-task
gets its task redelivered (acks_late + reject_on_worker_lost), which is safe because every task
is idempotent; the Redis broker redelivers unacknowledged tasks only after the visibility
timeout, so that timeout is set longer than the longest training run.

Run: ``celery -A worker.celery_app worker -Q ingest`` (and ``-Q train`` on the GPU host).
"""

from __future__ import annotations

import os
from pathlib import Path

# A worker serving metrics (DMFREC_WORKER_METRICS_PORT) needs its prefork children's samples in
# files: prometheus_client picks that mode when first imported, so the folder is set first.
if os.environ.get("DMFREC_WORKER_METRICS_PORT", "0").strip() not in ("", "0"):
    Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(
        f"var/prometheus-worker-{os.environ['DMFREC_WORKER_METRICS_PORT'].strip()}").resolve()))
         ).mkdir(parents=True, exist_ok=True)

from celery import Celery, signals
from kombu import Exchange, Queue
from pydantic import ValidationError

from config.settings import (
    Settings,
    UnsafeSettingsError,
    describe,
    get_settings,
    service_settings,
)

INGEST_QUEUE = "ingest"
TRAIN_QUEUE = "train"

TASK_ROUTES = {
    "worker.tasks.ingest_event": {"queue": INGEST_QUEUE},
    "worker.tasks.enqueue_pending": {"queue": INGEST_QUEUE},
    "worker.tasks.drain_spool": {"queue": INGEST_QUEUE},
    "worker.tasks.drain_ingest": {"queue": INGEST_QUEUE},
    "worker.tasks.refresh_popular": {"queue": INGEST_QUEUE},
    "worker.tasks.refresh_hidden_skus": {"queue": INGEST_QUEUE},
    "worker.tasks.maybe_fine_tune": {"queue": INGEST_QUEUE},
    "worker.tasks.restore_active_version": {"queue": INGEST_QUEUE},
    "worker.tasks.restore_redis": {"queue": INGEST_QUEUE},  # recovery: not behind training
    "worker.tasks.scrub_artifacts": {"queue": INGEST_QUEUE},  # erasure: not behind training
    "worker.tasks.retention": {"queue": INGEST_QUEUE},
    "worker.tasks.analytics_roll_up": {"queue": INGEST_QUEUE},  # issue 18
    "worker.tasks.publish_version": {"queue": TRAIN_QUEUE},
    "worker.tasks.fine_tune": {"queue": TRAIN_QUEUE},
    "worker.tasks.nightly_retrain": {"queue": TRAIN_QUEUE},
}


def make_celery(settings: Settings, main: str = "dmfrec", *, current: bool = False,
                fail_fast: bool = False) -> Celery:
    """A Celery app configured from `settings`.

    The web service builds one only to send, with `fail_fast`: a broker that is down must cost
    a webhook request milliseconds (the event is already recorded), not kombu's and redis-py's
    reconnection back-off (seconds).
    """
    from worker.beat import schedule

    celery = Celery(main, set_as_current=current)
    transport_options = {
        "visibility_timeout": settings.train_visibility_timeout_s,
        "socket_connect_timeout": 2,
    }
    if fail_fast:
        transport_options.update(max_retries=1, interval_start=0, interval_step=0.1,
                                 interval_max=0.1, socket_connect_timeout=1, socket_timeout=2)
    celery.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=INGEST_QUEUE,
        task_create_missing_queues=False,
        task_queues=(
            Queue(INGEST_QUEUE, Exchange(INGEST_QUEUE), routing_key=INGEST_QUEUE),
            Queue(TRAIN_QUEUE, Exchange(TRAIN_QUEUE), routing_key=TRAIN_QUEUE),
        ),
        task_routes=TASK_ROUTES,
        beat_schedule=schedule(settings),
        timezone="UTC",
        worker_hijack_root_logger=False,
    )
    return celery


@signals.celeryd_init.connect
@signals.beat_init.connect
def refuse_unsafe_settings(**_kwargs) -> None:
    """A worker or beat never starts with weak secrets, the default guest salt or the demo page
    (celery logs and swallows a handler's exceptions, so exit)."""
    try:
        service_settings()
    except UnsafeSettingsError as exc:
        raise SystemExit(f"refusing to start:\n{exc}") from None


@signals.celeryd_init.connect
def clear_stale_metrics(**_kwargs) -> None:
    """A worker starting: samples of a previous run's processes would be summed in."""
    if get_settings().worker_metrics_port:
        from worker import metrics

        metrics.clear_stale()


@signals.worker_init.connect
def import_model_code(**_kwargs) -> None:
    """Import the model code (torch) once in the worker's main process, before its pool forks:
    each prefork child inherits it, so a child's first fold-in does not pay seconds for the
    import (freshness of the first events after a start)."""
    import model.recommender  # noqa: F401


@signals.worker_ready.connect
def serve_metrics(**_kwargs) -> None:
    """The main process of a worker serves the metrics of its pool (worker.metrics)."""
    settings = get_settings()
    if settings.worker_metrics_port:
        from worker import metrics

        metrics.serve(settings, [INGEST_QUEUE, TRAIN_QUEUE])


@signals.worker_process_shutdown.connect
def forget_process_metrics(pid: int | None = None, **_kwargs) -> None:
    from worker import metrics

    metrics.process_exited(pid or os.getpid())


try:
    app = make_celery(get_settings(), current=True)
except ValidationError as exc:  # one line per refused variable instead of a traceback
    raise SystemExit(f"refusing to start:\n{describe(exc)}") from None
app.conf.imports = ("worker.tasks",)
