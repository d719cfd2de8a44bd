"""Slow clients against the shipped web stack: deploy/nginx.conf.template in front of gunicorn
(gunicorn.conf.py: 2 workers x 4 threads), real sockets, real processes.

64 connections stall for 60 s after half a header or half a body (each one reopened at once
when nginx closes it, so 64 are stalled all the time) while /healthz is probed through nginx
every 0.2 s: its p99 stays under 1 s. The same stall sent to gunicorn directly blocks it (the
control: without the proxy the test would fail).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from string import Template

import pytest
from sqlalchemy import create_engine

from storage.models import Base
from tests.conftest import TEST_GUEST_SALT, free_port, stop

REPO = Path(__file__).resolve().parents[2]
STALLED, STALL_S, PROBE_EVERY_S, P99_LIMIT_S = 64, 60.0, 0.2, 1.0
PARTIAL_HEADER = b"GET /healthz HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: slo"
PARTIAL_BODY = (b"POST /v1/webhooks/magento/orders HTTP/1.1\r\nHost: shop.example\r\n"
                b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"event_id\": ")


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if _probe(port, timeout=2) is not None:
                return
        except OSError:
            pass
        time.sleep(0.2)
    stop(proc, timeout=5)
    pytest.fail(f"{proc.args[0]} did not start: {log.read_text()[-3000:]}")


def _probe(port: int, timeout: float) -> float | None:
    """Seconds a new connection's GET /healthz took; None unless it answered 200."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return time.monotonic() - started if answer.startswith(b"HTTP/1.1 200") else None


@pytest.fixture
def gunicorn_port(tmp_path, r, settings):
    db = tmp_path / "web.db"
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    engine.dispose()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "DMFREC_DATABASE_URL": f"sqlite:///{db}",
           "DMFREC_REDIS_URL": settings.redis_url, "DMFREC_BROKER_URL": settings.broker_url,
           "DMFREC_GUEST_SALT": TEST_GUEST_SALT, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "p")}
    env.pop("WEB_CONCURRENCY", None)  # the shipped 2 workers x 4 threads
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    _wait_listening(port, proc, log)
    yield port
    stop(proc)


@pytest.fixture
def nginx_port(tmp_path, gunicorn_port):
    """Debian's nginx running deploy/nginx.conf.template (rendered as the nginx image does)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "Debian's nginx is needed (.ci/run installs it)"
    port = free_port()
    site = Template((REPO / "deploy" / "nginx.conf.template").read_text()).safe_substitute(
        DMFREC_UPSTREAM=f"127.0.0.1:{gunicorn_port}", DMFREC_PROXY_LISTEN=f"127.0.0.1:{port}")
    (tmp_path / "site.conf").write_text(site)
    # The main file nginx's packages and image provide, reduced to what a test run needs.
    (tmp_path / "nginx.conf").write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    log = tmp_path / "nginx.log"
    with log.open("w") as out:
        proc = subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                                stdout=out, stderr=subprocess.STDOUT)
    _wait_listening(port, proc, tmp_path / "nginx-error.log")
    yield port
    stop(proc)


class Stall:
    """`n` connections, each sending half a request and then nothing, for `seconds`; a
    connection the server closes is opened again at once. Counts the closes and how long
    each connection had stayed open."""

    def __init__(self, port: int, n: int, seconds: float) -> None:
        self.port, self.deadline = port, time.monotonic() + seconds
        self.closed_after: list[float] = []
        self.threads = [threading.Thread(target=self._slot, args=(k,), daemon=True)
                        for k in range(n)]
        for t in self.threads:
            t.start()

    def _slot(self, k: int) -> None:
        partial = PARTIAL_HEADER if k % 2 else PARTIAL_BODY
        while (left := self.deadline - time.monotonic()) > 0:
            opened = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(partial)
                    s.settimeout(left)
                    while s.recv(4096):  # a 408 (nginx) and then the close
                        pass
            except TimeoutError:
                return  # still stalled at the deadline
            except OSError:
                time.sleep(0.05)  # refused or reset: try again
            self.closed_after.append(time.monotonic() - opened)

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=max(0.0, self.deadline - time.monotonic()) + 10)


def _probe_during(stall: Stall, port: int) -> list[float]:
    latencies = []
    while time.monotonic() < stall.deadline - PROBE_EVERY_S:
        started = time.monotonic()
        try:
            took = _probe(port, timeout=5)
        except OSError:
            took = None
        latencies.append(5.0 if took is None else took)  # no answer counts as 5 s
        time.sleep(max(0.0, PROBE_EVERY_S - (time.monotonic() - started)))
    return latencies


def test_stalled_clients_do_not_slow_healthz_behind_nginx(nginx_port, gunicorn_port):
    # Control: without the proxy, a few seconds of the same stall block gunicorn's threads.
    control = Stall(gunicorn_port, STALLED, 4.0)
    time.sleep(1.0)
    blocked = _probe_during(control, gunicorn_port)
    control.join()
    assert max(blocked) > P99_LIMIT_S, f"gunicorn alone was not blocked: {blocked}"
    time.sleep(1.0)

    stall = Stall(nginx_port, STALLED, STALL_S)
    time.sleep(0.5)  # every stalled connection is open before the first probe
    latencies = _probe_during(stall, nginx_port)
    stall.join()
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"healthz through nginx under {STALLED} stalled connections: {len(latencies)} probes, "
          f"median {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms; nginx closed {len(stall.closed_after)} "
          f"stalled connections")
    assert len(latencies) >= 0.8 * STALL_S / PROBE_EVERY_S
    assert p99 < P99_LIMIT_S
    # nginx's client_header_timeout / client_body_timeout (10 s) cut every stalled client.
    assert len(stall.closed_after) >= STALLED * 4
    assert all(8 < s < 15 for s in stall.closed_after), sorted(stall.closed_after)[:5]
