"""The live path under load, each figure beside its ceiling measured in the same run.

1. Webhooks: accepted events/s, p50/p99 latency and non-2xx answers of our app
   (``gunicorn 'webhook:create_app()'``, gunicorn.conf.py, WEB_CONCURRENCY=--workers) receiving
   signed, distinct order events (unique webhook-id and event_id each, pre-signed into a file
   that a wrk Lua script replays), against a bare Flask app under the same gunicorn config
   that only checks the HMAC-SHA256 (`hmac.compare_digest`) and publishes one Celery message
   to the same Redis broker (benchmarks/bare_apps.py), and against the durable ceiling: the
   same app doing what any webhook that must not lose events does (the HMAC check, one INSERT
   of the raw body into MariaDB in its own committed transaction, one Celery message).
2. Storefront: requests/s and p50/p99 of ``GET /v1/customers/<id>/recommendations`` (a valid
   per-customer token each, lists of an active model version in Redis), against a bare app
   answering one Redis GET of the same list; wrk replays a shuffled file of customers+tokens.
   Then ``GET /v1/popular`` against a bare app answering one Redis GET of the popular list,
   and ``GET /v1/items/<sku>/similar`` (every SKU of the model, shuffled) against one answering
   one Redis GET of the SKU's similar list.
3. Freshness: p50/p95 from the POST to the customer's rewritten list in Redis (keyspace
   notifications), at a steady --rate events/s (--senders paced keep-alive senders) for --seconds,
   with a real Celery ingest worker (prefork, concurrency 2) folding events into an active
   DMF model trained on a small synthetic shop; each event buys the first SKU of the
   customer's current list, so the list must change. The ceiling: the bare app's message to
   a bare Celery worker (same pool and concurrency) whose task is one Redis SET.

With ``--slices N`` each load phase runs as N turns of ours then its ceiling(s) (``--seconds``
in all per app, each webhook turn on its own pre-signed events): on a shared machine a load
that changes during the run then weighs on both sides alike instead of on whichever ran
while it peaked.

Every run uses its own MariaDB database (``dmfrec_bench_live_*``, migrated with
storage.schema, dropped at the end) and its own Redis db (--redis-db, flushed at start and
end); every process it starts is stopped in ``finally``. Load runs on loopback on the same
machine as the servers, so on a small machine the figures share its cores with wrk.

    .venv/bin/python -m benchmarks.live [--seconds 20] [--workers 2] [--slices 1] [--rate 50]
        [--freshness-only]  (phase 3 alone)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import redis as redis_lib
import scipy.sparse as sp
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.engine import make_url

from benchmarks.bare_apps import DURABLE_TABLE
from benchmarks.machine import free_port
from config.settings import Settings
from storage import schema
from storage.models import Event
from webhook import signing, tokens
from worker import publish
from worker.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent
LUA = REPO / "benchmarks" / "wrk" / "cycle.lua"
WEBHOOK_PATH = "/v1/webhooks/magento/orders"
BARE_PREFIX = "/bare"
DURABLE_PREFIX = "/durable"
WEBHOOK_SECRET = "bench-live-webhook-secret-0123456789"
TOKEN_SECRET = "bench-live-token-secret-0123456789"
GUEST_SALT = "bench-live-guest-salt-0123456789"
WEBHOOK_CAP_PER_S = 4000  # pre-signed events per second of load: more than either app takes


# ---------------------------------------------------------------- processes


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL to the process group this benchmark started (its own session)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers (workers, pool children) of this group
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@contextlib.contextmanager
def started(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            _stop(proc)


def wait_healthy(base: str, proc: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"server at {base} did not start:\n{tail}")


@contextlib.contextmanager
def gunicorn(app: str | None, env: dict, tmp: Path, name: str) -> Iterator[str]:
    """Our app (app=None: gunicorn.conf.py's wsgi_app) or another one, same config file."""
    port = free_port()
    prom = tmp / f"prom-{name}"
    prom.mkdir()
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"),
           "--bind", f"127.0.0.1:{port}"] + ([app] if app else [])
    log = tmp / f"gunicorn-{name}.log"
    with started(cmd, {**env, "PROMETHEUS_MULTIPROC_DIR": str(prom)}, log) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc, log)
        yield base


@contextlib.contextmanager
def celery_worker(app: str, queue: str, env: dict, tmp: Path, name: str
                  ) -> Iterator[subprocess.Popen]:
    cmd = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue, "-P", "prefork",
           "-c", "2", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
           "--without-heartbeat", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"]
    with started(cmd, env, tmp / f"celery-{name}.log") as proc:
        yield proc


# ---------------------------------------------------------------- data


@contextlib.contextmanager
def fresh_database(mysql_url: str) -> Iterator[str]:
    server = create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    name = f"dmfrec_bench_live_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        url = make_url(mysql_url).set(database=name).render_as_string(hide_password=False)
        schema.upgrade(url)
        yield url
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        server.dispose()


def train_and_publish(rt: Runtime, n_customers: int, n_skus: int, epochs: int
                      ) -> tuple[str, list[str], list[str]]:
    """A small DMF on a synthetic shop (customers "1".."N" as Magento ids), saved under
    DMFREC_MODEL_DIR and published (every list, then the switch): the active version."""
    from model.datasets.synthetic import synthetic_shop
    from model.recommender import DMF

    shop = synthetic_shop(n_customers=n_customers, n_skus=n_skus, seed=7)
    customers = sorted({str(int(c[1:]) + 1) for c in shop.customer_id}, key=int)
    skus = sorted(set(shop.sku))
    c_index = {c: k for k, c in enumerate(customers)}
    s_index = {s: k for k, s in enumerate(skus)}
    rows = [c_index[str(int(c[1:]) + 1)] for c in shop.customer_id]
    cols = [s_index[s] for s in shop.sku]
    qty = sp.csr_matrix((shop.qty, (rows, cols)), shape=(len(customers), len(skus)))
    matrix = qty.copy()
    matrix.data = np.log1p(matrix.data).astype(np.float32)  # value scheme log1p (the default)
    model = DMF(epochs=epochs, device="cpu")
    model.fit(matrix.astype(np.float32), progress=False)
    version = f"bench-{uuid.uuid4().hex[:10]}"
    model.version = version
    model.save(rt.model_path_for_new(version), metadata={
        "customer_ids": customers, "skus": skus, "kind": "benchmark",
        "value_scheme": rt.settings.value_scheme})
    from worker.versions import publish_model_version

    publish_model_version(rt, version)
    return version, customers, skus


def order_event(event_id: str, entity_id: int, customer_id: int, lines: dict[str, int]) -> dict:
    """A snapshot event as our Magento module sends it (tests/worker/conftest.py make_event)."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    items = [{"item_id": entity_id * 100 + k, "sku": sku, "qty_ordered": qty, "qty_canceled": 0,
              "price": 10, "row_total": 10 * qty} for k, (sku, qty) in enumerate(lines.items())]
    return {"event_id": event_id,
            "order": {"entity_id": entity_id, "increment_id": str(entity_id),
                      "customer_id": customer_id, "customer_email": f"c{customer_id}@example.com",
                      "customer_is_guest": False, "state": "processing", "created_at": at,
                      "updated_at": at, "items": items},
            "products": []}


def write_webhook_requests(path: Path, n: int, skus: list[str], run: str) -> None:
    """n distinct events (own webhook-id, event_id, order), each signed now."""
    rng = random.Random(1)
    with path.open("w") as out:
        for k in range(n):
            lines = {sku: rng.randint(1, 3) for sku in rng.sample(skus, 2)}
            event = order_event(f"bench-{run}-{k}", 1_000_000 + k, 500_000 + k, lines)
            body = json.dumps(event, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json",
                       **signing.signed_headers(WEBHOOK_SECRET, body,
                                                msg_id=f"msg_{run}_{k}")}
            fields = ["POST", WEBHOOK_PATH, body.decode()]
            for name, value in headers.items():
                fields += [name, value]
            out.write("\t".join(fields) + "\n")


def write_popular_requests(path: Path, n: int = 1000) -> None:
    with path.open("w") as out:
        out.writelines("GET\t/v1/popular\t\n" for _ in range(n))


def write_similar_requests(path: Path, skus: list[str]) -> None:
    order = list(skus)
    random.Random(3).shuffle(order)
    with path.open("w") as out:
        out.writelines(f"GET\t/v1/items/{quote(sku, safe='')}/similar\t\n" for sku in order)


def write_storefront_requests(path: Path, customers: list[str]) -> None:
    order = list(customers)
    random.Random(2).shuffle(order)
    with path.open("w") as out:
        for c in order:
            token = tokens.mint(TOKEN_SECRET, c, ttl_s=1800)
            out.write(f"GET\t/v1/customers/{c}/recommendations\t\t"
                      f"Authorization\tBearer {token}\n")


# ---------------------------------------------------------------- load


def run_wrk(base: str, requests_file: Path, prefix: str, seconds: int, connections: int,
            threads: int) -> dict:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "10s", "-s", str(LUA), base, "--", str(requests_file), prefix,
           str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 180,
                          check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    result = json.loads(line[len("WRKJSON "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["ok"] = sum(v for k, v in result["statuses"].items() if k.startswith("2"))
    result["non_2xx"] = sum(v for k, v in result["statuses"].items() if not k.startswith("2"))
    result["socket_errors"] = sum(result[k] for k in ("connect_errors", "read_errors",
                                                      "write_errors", "timeouts"))
    return result


def interleaved(runs: list[tuple[str, str, list[Path], str]], seconds: int, connections: int,
                threads: int, slices: int) -> dict[str, dict]:
    """Each (name, base, files, prefix) run for `seconds` in all, in `slices` turns of
    ours-then-ceiling (slice k replays files[k], or files[0] when there is one): a load that
    changes during the run then weighs on each app alike. Totals are summed over the slices;
    p50 is the median of the slices' p50s and p99 the worst slice's (wrk's histograms cannot
    be merged from its summary)."""
    per = max(1, round(seconds / slices))
    parts: dict[str, list[dict]] = {name: [] for name, *_ in runs}
    for k in range(slices):
        for name, base, files, prefix in runs:
            parts[name].append(run_wrk(base, files[min(k, len(files) - 1)], prefix, per,
                                       connections, threads))
    return {name: _merged(results) for name, results in parts.items()}


def _merged(results: list[dict]) -> dict:
    if len(results) == 1:
        return results[0]
    out = {key: sum(r[key] for r in results) for key in (
        "requests", "duration_us", "connect_errors", "read_errors", "write_errors", "timeouts",
        "wraps", "ok", "non_2xx", "socket_errors")}
    statuses: dict[str, int] = {}
    for r in results:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    out.update(statuses=statuses, p50_us=statistics.median(r["p50_us"] for r in results),
               p99_us=max(r["p99_us"] for r in results), slices=len(results),
               slice_rps=[round(r["rps"]) for r in results])
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    return out


class Arrivals:
    """First SET of each watched key, from Redis keyspace notifications (monotonic seconds)."""

    def __init__(self, r: redis_lib.Redis, db: int, patterns: list[str]) -> None:
        self.times: dict[str, float] = {}
        self.prefix = f"__keyspace@{db}__:"
        self.pubsub = r.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(**{self.prefix + p: self._on_message for p in patterns})
        self.thread = self.pubsub.run_in_thread(sleep_time=0.01, daemon=True)

    def _on_message(self, message: dict) -> None:
        now = time.monotonic()
        channel, data = message["channel"], message["data"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = data.decode() if isinstance(data, bytes) else data
        if data == "set":
            self.times.setdefault(channel[len(self.prefix):], now)

    def wait(self, keys: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(k not in self.times for k in keys):
            time.sleep(0.05)

    def close(self) -> None:
        self.thread.stop()
        self.thread.join(timeout=5)
        self.pubsub.close()


def paced_posts(base: str, path: str, events: list[tuple[str, str, bytes]], rate: float,
                senders: int = 1) -> tuple[dict[str, float], list[int], float]:
    """POST each (watch key, webhook id, body) at a steady rate: event k is due at start +
    k / rate, on sender k % `senders` (one thread and keep-alive connection each, so a slow
    answer delays only that sender's next events); returns send times by watch key, the
    statuses, and the achieved rate (events / time until the last answer)."""
    host, port = base.removeprefix("http://").split(":")
    sent: dict[str, float] = {}
    statuses: list[int] = [0] * len(events)
    interval = 1.0 / rate
    start = time.monotonic() + 0.05

    def send(first: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        for k in range(first, len(events), senders):
            key, msg_id, body = events[k]
            delay = start + k * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            headers = {"Content-Type": "application/json",
                       **signing.signed_headers(WEBHOOK_SECRET, body, msg_id=msg_id)}
            for _attempt in (1, 2):
                sent[key] = time.monotonic()
                try:
                    conn.request("POST", path, body, headers)
                    response = conn.getresponse()
                    response.read()
                    statuses[k] = response.status
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.close()

    threads = [threading.Thread(target=send, args=(i,), daemon=True)
               for i in range(min(senders, len(events)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return sent, statuses, len(events) / elapsed if elapsed > 0 else float("nan")


def freshness(base: str, path: str, arrivals: Arrivals, events: list[tuple[str, str, bytes]],
              warmup: list[tuple[str, str, bytes]], rate: float, senders: int = 1,
              trace: Path | None = None) -> dict:
    """Warm up (model loads in each pool child: a few events, one at a time), then the paced
    run; latencies in ms."""
    _, warm_statuses, _ = paced_posts(base, path, warmup, min(rate, 4.0))
    arrivals.wait([k for k, _, _ in warmup], 120)
    sent, statuses, achieved = paced_posts(base, path, events, rate, senders)
    keys = [k for k, _, _ in events]
    arrivals.wait(keys, 60)
    if trace is not None:  # POST times beside the worker's (benchmarks.trace_worker)
        wall = time.time() - time.monotonic()
        with trace.open("a") as out:
            for key, msg_id, _ in events:
                out.write(json.dumps({"event": msg_id.replace("msg_", "", 1).replace("_", "-"),
                                      "sent": sent[key] + wall,
                                      "arrived": arrivals.times[key] + wall
                                      if key in arrivals.times else None}) + "\n")
    latencies = sorted((arrivals.times[k] - sent[k]) * 1000 for k in keys if k in arrivals.times)
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []
    return {"events": len(events), "arrived": len(latencies), "rate": achieved,
            "p50": q[49] if q else float("nan"), "p95": q[94] if q else float("nan"),
            "max": latencies[-1] if latencies else float("nan"),
            "non_2xx": sum(1 for s in statuses if not 200 <= s < 300),
            "warmup_arrived": sum(1 for k, _, _ in warmup if k in arrivals.times),
            "warmup_non_2xx": sum(1 for s in warm_statuses if not 200 <= s < 300)}


def warm(base: str, paths: list[str]) -> None:
    for p in paths:
        for _ in range(10):
            with contextlib.suppress(OSError, urllib.error.URLError):
                urllib.request.urlopen(base + p, timeout=5).read()


# ---------------------------------------------------------------- report


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} logical cores ({os.uname().nodename})"


def _ratio(ours: float, bare: float) -> str:
    return f"{100 * ours / bare:.0f} %" if bare else "-"


def freshness_report(args: argparse.Namespace, fr: dict) -> str:
    """Phase 3 alone (--freshness-only)."""
    fo, fb = fr["ours"], fr["bare"]
    return "\n".join([
        f"machine: {machine()}", f"model: {fr['model']}", "",
        "| measure | dmfrec | ceiling (bare app) |", "|---|---:|---:|",
        f"| Freshness p50 / p95 (ms), {args.rate:g} events/s for {args.seconds} s | "
        f"{fo['p50']:.0f} / {fo['p95']:.0f} | {fb['p50']:.0f} / {fb['p95']:.0f} |",
        f"| Freshness max (ms); arrived / sent; sent rate | {fo['max']:.0f}; "
        f"{fo['arrived']} / {fo['events']}; {fo['rate']:.1f}/s | {fb['max']:.0f}; "
        f"{fb['arrived']} / {fb['events']}; {fb['rate']:.1f}/s |",
        f"| non-2xx answers | {fo['non_2xx']} | {fb['non_2xx']} |", "",
        f"Lists that changed: {fr['changed']} of {fo['events']}."])


def report(args: argparse.Namespace, wh: dict, sf: dict, fr: dict) -> str:
    def ms(us: float) -> str:
        return f"{us / 1000:.1f}"

    def hook(r: dict) -> str:
        return f"{r['non_2xx']} of {r['requests']} (socket errors {r['socket_errors']})"

    o, b, d = wh["ours"], wh["bare"], wh["durable"]
    so, sb = sf["ours"], sf["bare"]
    po, pb = sf["popular_ours"], sf["popular_bare"]
    io_, ib = sf["similar_ours"], sf["similar_bare"]
    fo, fb = fr["ours"], fr["bare"]
    def accepted(r: dict) -> float:
        return r["statuses"].get("202", 0) / (r["duration_us"] / 1e6)

    rows = [
        ("Webhook accepted events/s (202)", f"{accepted(o):.0f}", f"{accepted(b):.0f}",
         _ratio(accepted(o), accepted(b))),
        ("Webhook latency p50 / p99 (ms)", f"{ms(o['p50_us'])} / {ms(o['p99_us'])}",
         f"{ms(b['p50_us'])} / {ms(b['p99_us'])}", ""),
        ("Webhook non-2xx answers", hook(o), hook(b), ""),
        ("Webhook accepted events/s (202), durable ceiling", f"{accepted(o):.0f}",
         f"{accepted(d):.0f}", _ratio(accepted(o), accepted(d))),
        ("Webhook latency p50 / p99 (ms), durable ceiling",
         f"{ms(o['p50_us'])} / {ms(o['p99_us'])}", f"{ms(d['p50_us'])} / {ms(d['p99_us'])}",
         ""),
        ("Webhook non-2xx answers, durable ceiling", hook(o), hook(d), ""),
        ("Storefront top-N requests/s", f"{so['rps']:.0f}", f"{sb['rps']:.0f}",
         _ratio(so["rps"], sb["rps"])),
        ("Storefront latency p50 / p99 (ms)", f"{ms(so['p50_us'])} / {ms(so['p99_us'])}",
         f"{ms(sb['p50_us'])} / {ms(sb['p99_us'])}", ""),
        ("Storefront non-2xx answers", hook(so), hook(sb), ""),
        ("Popular list requests/s", f"{po['rps']:.0f}", f"{pb['rps']:.0f}",
         _ratio(po["rps"], pb["rps"])),
        ("Popular list latency p50 / p99 (ms)", f"{ms(po['p50_us'])} / {ms(po['p99_us'])}",
         f"{ms(pb['p50_us'])} / {ms(pb['p99_us'])}", ""),
        ("Popular list non-2xx answers", hook(po), hook(pb), ""),
        ("Similar items requests/s", f"{io_['rps']:.0f}", f"{ib['rps']:.0f}",
         _ratio(io_["rps"], ib["rps"])),
        ("Similar items latency p50 / p99 (ms)", f"{ms(io_['p50_us'])} / {ms(io_['p99_us'])}",
         f"{ms(ib['p50_us'])} / {ms(ib['p99_us'])}", ""),
        ("Similar items non-2xx answers", hook(io_), hook(ib), ""),
        (f"Freshness p50 / p95 (ms), {args.rate:g} events/s",
         f"{fo['p50']:.0f} / {fo['p95']:.0f}", f"{fb['p50']:.0f} / {fb['p95']:.0f}", ""),
        ("Freshness max (ms); arrived / sent; sent rate",
         f"{fo['max']:.0f}; {fo['arrived']} / {fo['events']}; {fo['rate']:.1f}/s",
         f"{fb['max']:.0f}; {fb['arrived']} / {fb['events']}; {fb['rate']:.1f}/s", ""),
    ]
    out = [f"machine: {machine()}",
           f"settings: --seconds {args.seconds} --workers {args.workers} --slices {args.slices} "
           f"(gunicorn gthread, {os.environ.get('DMFREC_WEB_THREADS', '4')} threads each), "
           f"wrk -t {args.wrk_threads} -c {args.connections} on loopback; "
           f"model: {fr['model']}",
           "",
           "| measure | dmfrec | ceiling (bare app) | dmfrec / ceiling |",
           "|---|---:|---:|---:|"]
    out += [f"| {a} | {b_} | {c} | {d} |" for a, b_, c, d in rows]
    out += ["",
            f"Webhook ceiling: HMAC check + one Celery send_task; durable ceiling: HMAC check + "
            f"one committed INSERT of the raw body into MariaDB + one Celery send_task "
            f"({wh['durable_rows']} rows inserted). Storefront, popular and similar ceilings: "
            f"one Redis GET. Freshness ceiling: bare app -> Celery -> bare worker (prefork, 2) "
            f"-> one SET. "
            f"Freshness lists that changed (first SKU bought, so excluded): "
            f"{fr['changed']} of {fo['events']}; our warm-up: {fo['warmup_arrived']} arrived; "
            f"webhook events pre-signed: {wh['presigned']}, replays (wraps) ours/bare: "
            f"{o['wraps']}/{b['wraps']}; our 202s: {o['statuses'].get('202', 0)}, events "
            f"recorded in the database: {wh['recorded']} (up to --connections more: requests "
            f"in flight when wrk stopped are recorded but not counted)."]
    return "\n".join(out)


# ---------------------------------------------------------------- main


def load_phases(args: argparse.Namespace, ours: str, bare: str, tmp: Path, skus: list[str],
                customers: list[str], run: str, rt: Runtime, r: redis_lib.Redis, wh: dict,
                sf: dict) -> None:
    """Phases 1 (webhooks) and 2 (storefront, popular list): fill `wh` and `sf`."""
    # 1. webhooks
    # One file of distinct events per slice: each app's slice k goes on where k-1 stopped.
    per_slice = max(1, round(args.seconds / args.slices))
    hooks_files = [tmp / f"webhooks-{k}.tsv" for k in range(args.slices)]
    for k, path in enumerate(hooks_files):
        write_webhook_requests(path, WEBHOOK_CAP_PER_S * per_slice, skus, f"{run}-{k}")
    n_hooks = WEBHOOK_CAP_PER_S * per_slice * args.slices
    warm(ours, ["/healthz"])
    warm(bare, ["/healthz"])
    wrk_args = (args.seconds, args.connections, args.wrk_threads, args.slices)
    wh["presigned"] = n_hooks
    print("webhooks: ours, bare ceiling, durable ceiling ...", flush=True)
    wh.update(interleaved([("ours", ours, hooks_files, ""),
                           ("bare", bare, hooks_files, BARE_PREFIX),
                           ("durable", bare, hooks_files, DURABLE_PREFIX)], *wrk_args))
    r.delete("ingest", "bare_ingest")  # nobody consumed these messages; not for phase 3
    with rt.reading() as session:
        wh["recorded"] = session.scalar(
            select(func.count()).select_from(Event).where(Event.event_id.like(f"bench-{run}-%")))
        wh["durable_rows"] = session.execute(
            text(f"SELECT COUNT(*) FROM {DURABLE_TABLE}")).scalar_one()
    # Nor their events: left pending, the ingest tasks of phase 3 would claim them (oldest
    # first, DMFREC_INGEST_BATCH at a time) and phase 3 would measure a drained backlog of
    # thousands, not a steady rate.
    with rt.engine.begin() as conn:
        conn.execute(delete(Event).where(Event.event_id.like(f"bench-{run}-%")))

    # 2. storefront
    store_file = tmp / "storefront.tsv"
    write_storefront_requests(store_file, customers)
    print("storefront: ours, bare ...", flush=True)
    sf.update(interleaved([("ours", ours, [store_file], ""),
                           ("bare", bare, [store_file], BARE_PREFIX)], *wrk_args))
    popular_file = tmp / "popular.tsv"
    write_popular_requests(popular_file)
    print("popular: ours, bare ...", flush=True)
    sf.update(interleaved([("popular_ours", ours, [popular_file], ""),
                           ("popular_bare", bare, [popular_file], BARE_PREFIX)], *wrk_args))
    similar_file = tmp / "similar.tsv"
    write_similar_requests(similar_file, skus)
    # The model's own similar lists, not the popular fallback: what the phase must measure.
    with urllib.request.urlopen(f"{ours}/v1/items/{quote(skus[0], safe='')}/similar",
                                timeout=5) as answer:
        if json.loads(answer.read())["fallback"]:
            raise RuntimeError(f"no similar list published for {skus[0]}")
    print("similar items: ours, bare ...", flush=True)
    sf.update(interleaved([("similar_ours", ours, [similar_file], ""),
                           ("similar_bare", bare, [similar_file], BARE_PREFIX)], *wrk_args))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=20, help="load per phase (at most 30)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--rate", type=float, default=50.0, help="freshness events per second")
    ap.add_argument("--customers", type=int, default=3000, help="synthetic shop customers")
    ap.add_argument("--skus", type=int, default=400, help="synthetic shop SKUs")
    ap.add_argument("--epochs", type=int, default=8, help="DMF training epochs")
    ap.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    ap.add_argument("--redis-db", type=int, default=13)
    ap.add_argument("--slices", type=int, default=1, help=(
        "run each load phase as this many turns of ours then its ceiling (--seconds in all "
        "per app): on a shared machine a changing load then weighs on both alike"))
    ap.add_argument("--senders", type=int, default=4, help=(
        "freshness: paced senders (threads, one keep-alive connection each); event k is due "
        "at k / --rate whatever the answers to the others"))
    ap.add_argument("--trace", type=Path, help=(
        "freshness: time our worker's steps into this file (benchmarks.trace_worker; POST "
        "times beside it, *.sent.jsonl) and print where the time went"))
    ap.add_argument("--freshness-only", action="store_true",
                    help="only phase 3 (freshness at --rate, ours and the ceiling)")
    args = ap.parse_args()
    args.slices = max(1, min(args.slices, args.seconds))
    args.seconds = max(1, min(args.seconds, 30))
    if shutil.which("wrk") is None and not args.freshness_only:
        ap.error("wrk is needed for the load (Debian: apt-get install wrk)")
    n_fresh = int(args.rate * args.seconds)
    if args.customers < n_fresh + 20:
        ap.error(f"--customers must be at least {n_fresh + 20} for the freshness phase")

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    r = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    r.ping()
    run = uuid.uuid4().hex[:8]
    print(f"machine: {machine()}", flush=True)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dmfrec_live_")))
        r.flushdb()
        stack.callback(r.flushdb)
        old_notify = r.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
        stack.callback(r.config_set, "notify-keyspace-events", old_notify)
        db_url = stack.enter_context(fresh_database(args.mysql_url))
        settings = Settings(database_url=db_url, redis_url=redis_url, broker_url=redis_url,
                            model_dir=tmp / "models", webhook_secrets=WEBHOOK_SECRET,
                            token_secret=TOKEN_SECRET, guest_salt=GUEST_SALT)
        rt = Runtime.from_settings(settings)
        stack.callback(rt.engine.dispose)

        t0 = time.monotonic()
        version, customers, skus = train_and_publish(rt, args.customers, args.skus,
                                                     args.epochs)
        model_note = (f"DMF {args.epochs} epochs on a synthetic shop of {args.customers} "
                      f"customers x {args.skus} SKUs, version {version}")
        print(f"trained and published {version} in {time.monotonic() - t0:.1f}s", flush=True)
        # The popular list a shop has (bought by most customers first): the synthetic SKUs.
        publish.publish_popular(r, [(s, float(len(skus) - k)) for k, s in enumerate(skus[:100])])
        meta = r.hgetall(publish.meta_key(version))
        print(f"active version {publish.active_version(r)}: {meta}", flush=True)

        env = {**os.environ, "PYTHONPATH": str(REPO), "DMFREC_DATABASE_URL": db_url,
               "DMFREC_REDIS_URL": redis_url, "DMFREC_BROKER_URL": redis_url,
               "DMFREC_WEBHOOK_SECRETS": WEBHOOK_SECRET, "DMFREC_TOKEN_SECRET": TOKEN_SECRET,
               "DMFREC_GUEST_SALT": GUEST_SALT,
               "DMFREC_MODEL_DIR": str(tmp / "models"), "DMFREC_FINE_TUNE_AFTER_EVENTS": "0",
               "DMFREC_FINE_TUNE_AFTER_MINUTES": "0", "WEB_CONCURRENCY": str(args.workers),
               "BENCH_LIST_VERSION": version}
        if args.trace:
            for path in (args.trace, args.trace.with_suffix(".sent.jsonl")):
                path.unlink(missing_ok=True)
        ours = stack.enter_context(gunicorn(None, env, tmp, "ours"))
        bare = stack.enter_context(gunicorn("benchmarks.bare_apps:create_app()", env, tmp,
                                            "bare"))

        wh: dict = {}
        sf: dict = {}
        if not args.freshness_only:
            load_phases(args, ours, bare, tmp, skus, customers, run, rt, r, wh, sf)

        # 3. freshness: each event buys the first SKU of the customer's list (so it changes)
        r.config_set("notify-keyspace-events", "K$")
        arrivals = Arrivals(r, args.redis_db, [publish.user_key(version, "*"), "bench:touch:*"])
        stack.callback(arrivals.close)
        fresh_customers = customers[:n_fresh + 8]
        before = {c: publish.decode(r.get(publish.user_key(version, c)))
                  for c in fresh_customers}
        ours_events = []
        for k, c in enumerate(fresh_customers):
            first = before[c][0][0] if before[c] else skus[0]
            body = json.dumps(order_event(f"fresh-{run}-{k}", 2_000_000 + k, int(c),
                                          {first: 1}), separators=(",", ":")).encode()
            ours_events.append((publish.user_key(version, c), f"msg_fresh_{run}_{k}", body))
        bare_events = [(f"bench:touch:msg_bare_{run}_{k}", f"msg_bare_{run}_{k}", body)
                       for k, (_, _, body) in enumerate(ours_events)]
        fr = {"model": model_note}
        print("freshness: ours ...", flush=True)
        traced = {**env, "DMFREC_TRACE_FILE": str(args.trace.resolve())} if args.trace else env
        sent_file = args.trace.with_suffix(".sent.jsonl") if args.trace else None
        with celery_worker("benchmarks.trace_worker" if args.trace else "worker.celery_app",
                           "ingest", traced, tmp, "ours"):
            fr["ours"] = freshness(ours, WEBHOOK_PATH, arrivals, ours_events[8:],
                                   ours_events[:8], args.rate, args.senders, sent_file)
        after = {c: publish.decode(r.get(publish.user_key(version, c)))
                 for c in fresh_customers[8:]}
        fr["changed"] = sum(1 for c, pairs in after.items() if pairs != before[c])
        print("freshness: bare ...", flush=True)
        with celery_worker("benchmarks.bare_apps", "bare_ingest", env, tmp, "bare"):
            fr["bare"] = freshness(bare, BARE_PREFIX + WEBHOOK_PATH, arrivals, bare_events[8:],
                                   bare_events[:8], args.rate, args.senders)

        print()
        if args.trace:
            from benchmarks.trace_worker import summary

            print(summary(args.trace, sent_file), "\n")
        if args.freshness_only:
            print(freshness_report(args, fr))
            return
        print(report(args, wh, sf, fr))
        if wh["ours"]["non_2xx"] or wh["ours"]["wraps"]:
            print("WARNING: our webhook run had non-2xx answers or replayed requests")


if __name__ == "__main__":
    main()
