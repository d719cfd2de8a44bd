"""gunicorn settings for the web service: ``gunicorn`` in the repository root is enough.

Every value can be overridden on the command line or with an environment variable below.
Prometheus runs in multiprocess mode: each worker writes its samples under
PROMETHEUS_MULTIPROC_DIR (set here, before any worker imports prometheus_client), the folder is
emptied when the master starts, and `child_exit` marks a dead worker's live samples obsolete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

wsgi_app = "webhook:create_app()"
# Loopback by default: clients reach gunicorn through nginx (deploy/nginx.conf.template), which
# buffers slow ones; docker-compose binds the container's internal-network address instead.
bind = os.environ.get("DMFREC_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Storefront reads wait on Redis, webhooks on the database: threads overlap those waits.
worker_class = "gthread"
threads = int(os.environ.get("DMFREC_WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
# Proxies in front may send large headers; bodies are limited by the app (413).
limit_request_field_size = 8190
# Only the proxy may set X-Forwarded-For/-Proto (compose: the proxy's fixed address).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
access_log_format = json.dumps({
    "ts": "%(t)s", "logger": "gunicorn.access", "remote": "%(h)s", "method": "%(m)s",
    "path": "%(U)s", "status": "%(s)s", "bytes": "%(B)s", "duration_us": "%(D)s",
    "request_id": "%({x-request-id}o)s", "user_agent": "%(a)s",
})

PROMETHEUS_DIR = Path(os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path("var/prometheus").resolve())
))


def on_starting(server) -> None:
    """Refuse unsafe settings in the master, before any worker boots (gunicorn prints
    "Error: <message>" and exits 1); then start from an empty metrics folder: files of a
    previous run would be summed in."""
    from config.settings import UnsafeSettingsError, service_settings

    try:
        service_settings()
    except UnsafeSettingsError as exc:
        raise RuntimeError(f"refusing to start:\n{exc}") from None
    PROMETHEUS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in PROMETHEUS_DIR.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    """Let prometheus_client drop the dead worker's live gauges (counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
