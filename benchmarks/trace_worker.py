"""The Celery ingest worker of benchmarks.live with its steps timed (``--trace FILE``).

`app` is worker.celery_app's, with the steps of worker.live.process_event wrapped: each call's
wall start and end (time.time()) and the pid go to $DMFREC_TRACE_FILE as a JSON line, and each
task's start and end too (Celery's task_prerun/task_postrun). `summary` reads that file with
the POST times benchmarks.live wrote beside it and says where the time between a POST and
the rewritten list went. Benchmarks only: the product never imports this.

    celery -A benchmarks.trace_worker worker -Q ingest   (DMFREC_TRACE_FILE=/path/trace.jsonl)
"""

from __future__ import annotations

import collections
import functools
import json
import os
import time
from pathlib import Path

from celery import signals

from storage import ingestion
from worker import attribution, events, live, publish
from worker.celery_app import app

__all__ = ["app", "summary"]

STEPS = [(live, "_apply_batch"), (ingestion, "process_batch"), (live, "_process_alone"),
         (attribution, "refresh_orders"), (live, "refresh_customers"),
         (live, "rows_and_recent"), (live, "bought_skus"), (live, "fold_in_lists"),
         (publish, "publish_users_if_active"), (publish, "publish_user_if_active"),
         (publish, "set_bought_many"),
         (live, "refresh_popular"), (events, "mark_refreshed")]
_out = None


def _record(**fields) -> None:
    global _out
    if _out is None:
        _out = open(os.environ["DMFREC_TRACE_FILE"], "a", buffering=1)  # noqa: SIM115
    _out.write(json.dumps({**fields, "pid": os.getpid()}) + "\n")


def _timed(module, name: str) -> None:
    fn = getattr(module, name, None)
    if fn is None:  # a step this version of the code does not have
        return

    @functools.wraps(fn)
    def inner(*args, **kwargs):
        t0 = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            extra = {}
            if name == "process_batch" and kwargs.get("into") is not None:
                extra["n"] = len(kwargs["into"].outcomes)
            elif name == "refresh_customers":
                extra["n"] = len(set(args[1]))
            _record(step=name, t0=t0, t1=time.time(), **extra)

    setattr(module, name, inner)


if os.environ.get("DMFREC_TRACE_FILE"):
    import worker.tasks  # noqa: F401  (the tasks, registered before the wrapping)

    for _module, _name in STEPS:
        _timed(_module, _name)

    @signals.task_prerun.connect
    def _task_started(args=None, kwargs=None, **_kw) -> None:
        _record(step="task_start", t0=time.time(), event=(args or [None])[0],
                recheck=bool((kwargs or {}).get("recheck")))

    @signals.task_postrun.connect
    def _task_ended(args=None, retval=None, **_kw) -> None:
        _record(step="task_end", t0=time.time(), event=(args or [None])[0],
                outcome=retval.get("outcome") if isinstance(retval, dict) else None)


def _q(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def summary(trace: Path, sent: Path) -> str:
    """Where the time went: per step (calls, p50/p95 ms, share of the workers' busy time),
    batch sizes, and per event POST -> its task's first start -> the rewritten list."""
    rows = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    posts = [json.loads(line) for line in sent.read_text().splitlines() if line.strip()]
    steps: dict[str, list[float]] = collections.defaultdict(list)
    for r in rows:
        if "t1" in r:
            steps[r["step"]].append((r["t1"] - r["t0"]) * 1000)
    started: dict[str, float] = {}
    runs: list[float] = []
    open_tasks: dict[int, float] = {}
    for r in sorted(rows, key=lambda r: r["t0"]):
        if r["step"] == "task_start":
            started.setdefault(r["event"], r["t0"])
            open_tasks[r["pid"]] = r["t0"]
        elif r["step"] == "task_end" and r["pid"] in open_tasks:
            runs.append((r["t0"] - open_tasks.pop(r["pid"])) * 1000)
    busy = sum(runs)
    outcomes = collections.Counter(r.get("outcome") for r in rows if r["step"] == "task_end")
    sizes = collections.Counter(r.get("n") for r in rows if r["step"] == "process_batch")
    waits = [(started[p["event"]] - p["sent"]) * 1000 for p in posts if p["event"] in started]
    total = [(p["arrived"] - p["sent"]) * 1000 for p in posts if p.get("arrived")]
    after = [(p["arrived"] - started[p["event"]]) * 1000 for p in posts
             if p.get("arrived") and p["event"] in started]
    out = [f"tasks: {len(runs)} ({dict(outcomes)}); busy {busy / 1000:.1f} s of the pool "
           f"(task start to end, all tasks)",
           f"batch sizes (events claimed: count): {dict(sorted(sizes.items()))}",
           "| step | calls | p50 ms | p95 ms | share of busy time |", "|---|---:|---:|---:|---:|"]
    for name, values in sorted(steps.items(), key=lambda kv: -sum(kv[1])):
        out.append(f"| {name} | {len(values)} | {_q(values, .5):.1f} | {_q(values, .95):.1f} "
                   f"| {100 * sum(values) / busy:.0f} % |" if busy else "")
    out += ["", "| per event (ms) | p50 | p95 |", "|---|---:|---:|",
            f"| POST -> its task starts | {_q(waits, .5):.1f} | {_q(waits, .95):.1f} |",
            f"| its task starts -> list rewritten | {_q(after, .5):.1f} | {_q(after, .95):.1f} |",
            f"| POST -> list rewritten | {_q(total, .5):.1f} | {_q(total, .95):.1f} |"]
    return "\n".join(out)
