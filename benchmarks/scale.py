"""Scale: DMF retrain time, fit memory, full publish time and Redis memory for 10k-1M customers.

    python -m benchmarks.scale [--sizes 10000,100000,1000000] [--skus 50000] [--per-customer 20]
        [--full-fit | --epochs-measured K] [--publish-budget-s S]
        [--device auto|cpu|cuda] [--no-redis] [--json OUT]

    # the 2-core CPU VM (BENCHMARKS.md): whole nightly retrains at 10k and 100k, then 1M from
    # one measured epoch of one network and a few publish blocks
    python -m benchmarks.scale --sizes 10000,100000 --full-fit --json small.json
    python -m benchmarks.scale --sizes 1000000 --epochs-measured 1 --publish-budget-s 20 \
        --json big.json
    # device script, 1M on a GPU (needs only torch, numpy, scipy, tqdm; Redis is skipped)
    python -m benchmarks.scale --sizes 1000000 --full-fit --device cuda --no-redis --json gpu.json
    # no measuring: one table and growth law from earlier runs
    python -m benchmarks.scale --merge small.json big.json [--json all.json]

Why: a nightly retrain must finish overnight, and every customer's list must fit in Redis.
Each size runs in a fresh child process, so its RSS high-water mark (VmHWM) is its own:
"fit MiB" is that mark after training minus the resident memory just before the network is
built (matrix generated, libraries imported). Training runs `DMF.fit` with the defaults, the
code the nightly retrain runs (`_train`): with `--full-fit` the whole retrain with its early
stopping and the gate's ranking work, measured; otherwise one network for
`--epochs-measured` epochs and the fit extrapolated to every network's full epoch count
(marked "~", an upper bound). Publishing runs the model's blocked
`recommend_all` (top `publish_n` = 100, as `worker.versions`) and `worker.publish.
publish_user_lists` into a private Redis (started here, `--save ""`, flushed per size); with
`--publish-budget-s` only the first blocks are published and the total is extrapolated. Redis
memory per customer is the `used_memory` growth over customers published (keys carry the
pending TTL, as before activation). Then a log-log fit of each figure against the customer
count (purchases grow in proportion) gives the growth law and the sizes not measured ("^");
memory, which has a fixed part, is extrapolated with a straight line (MiB + KiB x customers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.machine import cpu, start_redis

PUBLISH_N = 100  # config.settings.Settings.publish_n: lists are stored longer than served
PUBLISH_CHUNK = 2000  # worker.versions.CHUNK
BLOCK = 1024  # DMF.recommend_all's default block of customers
EXTRA_SIZES = (1_000_000, 10_000_000)  # always extrapolated to, when not measured
# (figure, unit, label): the figures the growth law is fitted to.
LAW = (("s_per_epoch", "s", "s/epoch"), ("fit_s", "s", "retrain"),
       ("fit_mib", "MiB", "fit MiB"), ("publish_s", "s", "publish"),
       ("redis_mib", "MiB", "Redis MiB"))


# ------------------------------------------------------------------- data


def synthetic_matrix(n_customers: int, n_skus: int, per_customer: float, n_groups: int = 20,
                     in_group: float = 0.85, repeat: float = 0.15, seed: int = 0
                     ) -> sp.csr_matrix:
    """Customers x SKUs, log1p(summed quantity), float32, built without a per-customer loop.

    The structure of `model.datasets.synthetic.synthetic_shop` (taste groups, Zipf(0.8)
    popularity within them, 15% repeat purchases, quantities 1-3), vectorised: its Python loop
    over customers takes hours at 1M customers x 50k SKUs.
    """
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, size=n_customers)
    counts = np.maximum(2, rng.poisson(per_customer, size=n_customers)).astype(np.int64)
    owner = np.repeat(np.arange(n_customers, dtype=np.int64), counts)
    total = len(owner)
    zipf = (1.0 / np.arange(1, n_skus + 1) ** 0.8)[rng.permutation(n_skus)]
    # A mixture: in_group from the customer's group's SKUs, the rest from the whole catalog.
    bought = np.searchsorted(np.cumsum(zipf) / zipf.sum(), rng.random(total), side="right")
    inside = np.flatnonzero(rng.random(total) < in_group)
    draw_group = groups[owner[inside]]
    for g in range(n_groups):
        members = np.arange(g, n_skus, n_groups)
        cdf = np.cumsum(zipf[members]) / zipf[members].sum()
        mine = inside[draw_group == g]
        bought[mine] = members[np.searchsorted(cdf, rng.random(len(mine)), side="right")]
    bought = np.minimum(bought, n_skus - 1)  # float round-off at the cdf's top
    # Repeats: purchase j copies an earlier one of the same customer (chains resolved below).
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.arange(total, dtype=np.int64) - starts
    again = np.flatnonzero((rank > 0) & (rng.random(total) < repeat))
    src = np.arange(total, dtype=np.int64)
    src[again] = starts[again] + (rng.random(len(again)) * rank[again]).astype(np.int64)
    while True:  # pointer jumping: each purchase ends at the first one of its chain
        nxt = src[src]
        if np.array_equal(nxt, src):
            break
        src = nxt
    qty = rng.integers(1, 4, size=total).astype(np.float32)
    matrix = sp.csr_matrix((qty, (owner, bought[src])), shape=(n_customers, n_skus))
    matrix.sum_duplicates()
    matrix.data = np.log1p(matrix.data).astype(np.float32)
    return matrix


# ---------------------------------------------------------------- one size


def _status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (high-water mark) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def measure_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Generate, train (timed, budgeted), publish (timed, budgeted) one shop; its figures."""
    started = time.perf_counter()
    matrix = synthetic_matrix(n, args.skus, args.per_customer, seed=args.seed)
    row: dict[str, Any] = {"customers": n, "skus": args.skus, "nnz": int(matrix.nnz),
                           "gen_s": round(time.perf_counter() - started, 1),
                           "machine": f"{platform.machine()}, {cpu()}"}
    row.update(_train(matrix, args))
    model = row.pop("_model")
    row.update(_publish(model, args))
    row["peak_mib_end"] = round(_status_mib("VmHWM"), 1)
    return row


def _train(matrix: sp.csr_matrix, args: argparse.Namespace) -> dict[str, Any]:
    """Train with the defaults through `DMF.fit`, the code the nightly retrain runs.

    `--full-fit`: the whole retrain as `worker.training` does it (the latest purchase of up
    to 5,000 customers held out, every network stopped early on it), then the gate's work
    (those customers ranked over every SKU, once for the candidate and once for the active
    model). Otherwise one network for `--epochs-measured` epochs, and the fit extrapolated
    to every network at its full epoch count (an upper bound: early stopping shortens it)."""
    import torch

    from model.evaluation import evaluate
    from model.interactions import Interactions
    from model.recommender import DMF
    from model.validation import stopping_split

    cfg = DMF(device=args.device).config
    torch.manual_seed(cfg.seed)
    rss_before = _status_mib("VmRSS")
    started = time.perf_counter()
    if args.full_fit:
        ids = (np.arange(matrix.shape[0]), np.arange(matrix.shape[1]))
        # Purchase times (random: the synthetic shop has no order) so that the stopping
        # slice exists; without them the retrain would run every epoch unstopped.
        times = matrix.copy()
        times.data = np.random.default_rng(args.seed).integers(1, 2**31, matrix.nnz)
        train, stop_on = stopping_split(Interactions(matrix, *ids, times), seed=args.seed)
        if stop_on is None:
            raise RuntimeError("no stopping slice: the retrain would not stop early")
        model = DMF(device=args.device).fit(train, validation=stop_on)
        model.set_matrix(matrix)
    else:
        model = DMF(device=args.device, members=1, epochs=args.epochs_measured).fit(matrix)
    _sync(model.device)
    fit_s = time.perf_counter() - started
    epochs = [h["seconds"] for h in model.history]
    s_per_epoch = sum(epochs) / len(epochs)
    out: dict[str, Any] = {
        "device": (torch.cuda.get_device_name() if model.device.type == "cuda"
                   else f"cpu ({torch.get_num_threads()} threads)"),
        "steps_per_epoch": model.steps_per_epoch(), "samples_per_step": model.batch_samples(),
        "epochs_run": len(epochs), "members": cfg.members, "members_kept": len(model.nets),
        "item_rank": model.net.item_tower.first.embedding_dim,
        "s_per_epoch": round(s_per_epoch, 2),
        "epochs_default": cfg.epochs,
        "fit_s": round(fit_s if args.full_fit else s_per_epoch * cfg.epochs * cfg.members, 1),
        "fit_extrapolated": not args.full_fit,
        "rss_before_mib": round(rss_before, 1), "peak_mib": round(_status_mib("VmHWM"), 1),
        "_model": model,
    }
    if args.full_fit:
        started = time.perf_counter()
        for _ in range(2):  # candidate and active, as worker.gate judges both
            evaluate(model, stop_on, 10, metrics=("Recall",))
        out["gate_s"] = round(time.perf_counter() - started, 1)
        out["val_ndcg"] = round(max(h["val_ndcg"] for h in model.history), 4)
    out["fit_mib"] = round(out["peak_mib"] - rss_before, 1)
    out["fit_kib_per_customer"] = round(out["fit_mib"] * 1024 / matrix.shape[0], 2)
    if model.device.type == "cuda":
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def _connect(port: int) -> Any:
    """A client of the private Redis, or None when redis-py is missing (GPU image)."""
    if not port:
        return None
    try:
        import redis
    except ImportError:
        return None
    return redis.Redis(host="127.0.0.1", port=port)


def _lists(users: np.ndarray, items: np.ndarray, scores: np.ndarray, skus: list[str]
           ) -> dict[str, list[tuple[str, float]]]:
    """customer -> [(sku, score)], finite scores only, as `worker.versions.user_lists`."""
    return {f"c{int(u):07d}": [(skus[int(i)], float(s))
                               for i, s in zip(ri, rs, strict=True) if np.isfinite(s)]
            for u, ri, rs in zip(users, items, scores, strict=True)}


def _publish(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Every customer's top-100 via `recommend_all` blocks, written as `worker.versions` does
    (lists of (sku, score), finite scores only), into the private Redis when there is one."""
    from tqdm.auto import tqdm

    r = _connect(args.port)
    publish = None
    if r is not None:
        from worker import publish
        r.flushall()
        used_before = int(r.info("memory")["used_memory"])
    n_users = model.n_users
    skus = [f"SKU-{j:05d}" for j in range(model.n_items)]
    started = time.perf_counter()
    model.item_vectors()
    _sync(model.device)
    item_s = time.perf_counter() - started
    blocks = math.ceil(n_users / BLOCK)
    budget_end = (time.perf_counter() + args.publish_budget_s if args.publish_budget_s
                  else math.inf)
    rank_s = write_s = 0.0
    done = done_blocks = 0
    dict_bytes = 0.0
    bar = tqdm(total=n_users, desc=f"publish {n_users:,}", unit="customer", mininterval=5,
               file=sys.stderr)
    t0 = time.perf_counter()
    for users, items, scores in model.recommend_all(n=PUBLISH_N, block_size=BLOCK):
        t1 = time.perf_counter()
        rank_s += t1 - t0
        lists = _lists(users, items, scores, skus)
        if done_blocks == 1:  # what the lists weigh as Python objects, were all held at once
            t2 = time.perf_counter()
            tracemalloc.start()
            _lists(users, items, scores, skus)
            dict_bytes = tracemalloc.get_traced_memory()[0] / len(users)
            tracemalloc.stop()
            t1 += time.perf_counter() - t2  # the traced copy is not publish time
        if publish is not None:
            publish.publish_user_lists(r, f"scale-{n_users}", lists, chunk=PUBLISH_CHUNK)
        write_s += time.perf_counter() - t1
        done += len(users)
        done_blocks += 1
        bar.update(len(users))
        if time.perf_counter() > budget_end and done_blocks >= 2:
            break
        t0 = time.perf_counter()
    bar.close()
    per_block = (rank_s + write_s) / done_blocks
    out: dict[str, Any] = {
        "redis": r is not None, "published": done, "item_vectors_s": round(item_s, 2),
        "rank_s_per_1k": round(1000 * rank_s / done, 3),
        "write_s_per_1k": round(1000 * write_s / done, 3),
        "publish_s": round(item_s + per_block * blocks, 1),
        "publish_extrapolated": done < n_users,
        "lists_dict_bytes_per_customer": round(dict_bytes) if dict_bytes else None,
    }
    if r is not None:
        grew = int(r.info("memory")["used_memory"]) - used_before
        out["redis_bytes_per_customer"] = round(grew / done)
        out["redis_mib"] = round(grew / done * n_users / 2**20, 1)
        out["redis_extrapolated"] = done < n_users
        r.flushall()  # free the private Redis for the next size
    return out


# ------------------------------------------------------------------ driver


def growth_laws(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """y = a * customers^b per figure, least squares in log-log over the sizes that have it."""
    laws = {}
    for key, _, _ in LAW:
        pts = [(r["customers"], r[key]) for r in rows if r.get(key)]
        if len({n for n, _ in pts}) >= 2:
            b, log_a = np.polyfit(np.log([n for n, _ in pts]), np.log([y for _, y in pts]), 1)
            laws[key] = {"slope": round(float(b), 3), "a": float(math.exp(log_a)),
                         "points": len(pts)}
    # Memory has a fixed part (interpreter, torch, SKU-side weights): a power law through two
    # sizes understates its growth, so memory is extrapolated with a + b * customers instead.
    for key in ("fit_mib", "peak_mib"):
        pts = [(r["customers"], r[key]) for r in rows if r.get(key)]
        if len({n for n, _ in pts}) >= 2:
            b, a = np.polyfit([n for n, _ in pts], [y for _, y in pts], 1)
            laws.setdefault(key, {"points": len(pts)}).update(
                {"mib_fixed": round(float(a), 1), "kib_per_customer": round(float(b) * 1024, 3)})
    return laws


def _predict(law: dict[str, float], n: int) -> float:
    if "kib_per_customer" in law:
        return law["mib_fixed"] + law["kib_per_customer"] / 1024 * n
    return law["a"] * n ** law["slope"]


def _cell(row: dict[str, Any], key: str, mark: str = "") -> str:
    value = row.get(key)
    if value is None:
        return "-"
    text = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return text + mark


def print_table(rows: list[dict[str, Any]], laws: dict[str, dict[str, float]],
                extra: list[int]) -> list[dict[str, Any]]:
    """The measured sizes, then the growth law's sizes; returns the extrapolated rows."""
    print("\n| customers | purchases | s/epoch | retrain s (def. epochs) | fit peak MiB | fit MiB "
          "| publish s | Redis B/customer | Redis MiB |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ep = "~" if r.get("epoch_extrapolated") else ""
        pub = "~" if r.get("publish_extrapolated") else ""
        red = "~" if r.get("redis_extrapolated") else ""
        print(f"| {r['customers']:,} | {r['nnz']:,} | {_cell(r, 's_per_epoch', ep)} | "
              f"{_cell(r, 'fit_s', '~' if r.get('fit_extrapolated') else '')} | "
              f"{_cell(r, 'peak_mib')} | {_cell(r, 'fit_mib')} | {_cell(r, 'publish_s', pub)} | "
              f"{_cell(r, 'redis_bytes_per_customer')} | {_cell(r, 'redis_mib', red)} |")
    predicted = []
    per_customer = np.mean([r["nnz"] / r["customers"] for r in rows])
    for n in extra:
        p: dict[str, Any] = {"customers": n, "nnz": round(n * per_customer), "law": True}
        for key, law in laws.items():
            p[key] = _predict(law, n)
        red_b = [r["redis_bytes_per_customer"] for r in rows if r.get("redis_bytes_per_customer")]
        if red_b:
            p["redis_bytes_per_customer"] = float(np.mean(red_b))
        predicted.append(p)
        print(f"| {n:,} ^ | ~{p['nnz']:,} | {_cell(p, 's_per_epoch', '^')} | "
              f"{_cell(p, 'fit_s', '^')} | {_cell(p, 'peak_mib', '^')} | "
              f"{_cell(p, 'fit_mib', '^')} | "
              f"{_cell(p, 'publish_s', '^')} | {_cell(p, 'redis_bytes_per_customer', '^')} | "
              f"{_cell(p, 'redis_mib', '^')} |")
    print("\nplain: measured; ~: from the size's measured steps / blocks (seconds per step x "
          "steps, per block x blocks, the default epochs from the epoch); ^: growth law below")
    for key, unit, label in (*LAW, ("peak_mib", "MiB", "fit peak MiB")):
        law = laws.get(key, {})
        if "slope" in law:
            print(f"growth law {label}: {law['a']:.3g} {unit} x customers^{law['slope']} "
                  f"({law['points']} sizes)")
        if "kib_per_customer" in law:
            print(f"linear {label} (used for ^): {law['mib_fixed']:,} MiB + "
                  f"{law['kib_per_customer']:.3g} KiB x customers")
    dict_b = [r["lists_dict_bytes_per_customer"] for r in rows
              if r.get("lists_dict_bytes_per_customer")]
    if dict_b:
        per = float(np.mean(dict_b))
        sizes = sorted({r["customers"] for r in rows} | set(extra))
        held = ", ".join(f"{per * n / 2**30:.1f} GiB at {n:,}" for n in sizes)
        print(f"lists as Python objects: {per:,.0f} B/customer (tracemalloc); worker.versions "
              f"streams them per block, held at once they would take {held}")
    return predicted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--skus", type=int, default=50_000)
    p.add_argument("--per-customer", type=float, default=20.0)
    p.add_argument("--full-fit", action="store_true",
                   help="the whole nightly retrain (every network, early stopping) and gate")
    p.add_argument("--epochs-measured", type=int, default=1,
                   help="without --full-fit: epochs of one network to run and time")
    p.add_argument("--publish-budget-s", type=float, default=0.0,
                   help="stop publishing after this many seconds (>= 2 blocks), extrapolate")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--no-redis", action="store_true", help="time ranking, skip the writes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    p.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                   help="measure nothing: table and growth law from earlier --json files")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure_size(args.child, args)), flush=True)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.merge:  # e.g. the CPU VM's small sizes with a GPU's 1M run
        rows = sorted((r for f in args.merge for r in json.loads(f.read_text())["measured"]),
                      key=lambda r: r["customers"])
        report(rows, sizes, args)
        return
    redis_proc, port = (None, 0)
    if args.no_redis:
        print("Redis: skipped (--no-redis): publish times cover ranking and list building only")
    else:
        try:
            import redis  # noqa: F401  (only to know whether the writes can run)
            redis_proc, port = start_redis()
        except ImportError:
            pass
        if not port:
            print("Redis: skipped (redis-py or redis-server missing): publish times cover "
                  "ranking and list building only")
    rows = []
    try:
        for n in sizes:
            cmd = [sys.executable, "-m", "benchmarks.scale", "--child", str(n),
                   "--port", str(port), *_passthrough(args)]
            done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                print(f"{n:,} customers: failed (exit {done.returncode}, see stderr above)")
                continue
            rows.append(json.loads(lines[-1]))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=30)
    if not rows:
        sys.exit(1)
    report(rows, sizes, args)


NIGHT_BUDGET_S = 3600.0  # the whole nightly job (train, gate, publish) on this machine


def print_nightly(rows: list[dict[str, Any]]) -> None:
    """Per size, the nightly job's seconds (train + gate + publish; measured only where the
    whole retrain ran) and fit memory per customer; then the largest measured shop whose job
    fits NIGHT_BUDGET_S."""
    fits = []
    for r in rows:
        job = r["fit_s"] + r.get("gate_s", 0.0) + r.get("publish_s", 0.0)
        mark = "~" if r.get("fit_extrapolated") or r.get("publish_extrapolated") else ""
        print(f"{r['customers']:,} customers: nightly job {job:,.0f}{mark} s (train "
              f"{r['fit_s']:,.0f}, gate {r.get('gate_s', '-')}, publish {r.get('publish_s')}); "
              f"{r.get('members_kept', '?')} networks, {r.get('epochs_run', '?')} epochs; fit "
              f"{r.get('fit_kib_per_customer', '-')} KiB per customer")
        if not mark and job <= NIGHT_BUDGET_S:
            fits.append(r["customers"])
    print(f"largest measured shop whose whole nightly job fits {NIGHT_BUDGET_S / 3600:g} h: "
          + (f"{max(fits):,} customers" if fits else "none measured"))


def report(rows: list[dict[str, Any]], sizes: list[int], args: argparse.Namespace) -> None:
    """Growth laws, the table, the machine line, and the --json file."""
    laws = growth_laws(rows)
    extra = sorted({*EXTRA_SIZES, *sizes} - {r["customers"] for r in rows}) if laws else []
    predicted = print_table(rows, laws, extra)
    print_nightly(rows)
    here = f"{platform.machine()}, {cpu()}"  # rows from before "machine" was recorded
    devices = sorted({f"{r.get('machine', here)}, {r.get('device')}" for r in rows})
    print(f"\nmachine: {' / '.join(devices)}; "
          f"{rows[0]['skus']:,} SKUs, ~{args.per_customer:g} purchases per customer")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "measured": rows, "laws": laws,
                                         "extrapolated": predicted}, indent=1))


def _passthrough(args: argparse.Namespace) -> list[str]:
    """The options a child needs (publishing is off in the child with --no-redis: port 0)."""
    return ["--skus", str(args.skus), "--per-customer", str(args.per_customer),
            "--epochs-measured", str(args.epochs_measured),
            *(["--full-fit"] if args.full_fit else []),
            "--publish-budget-s", str(args.publish_budget_s), "--device", args.device,
            "--seed", str(args.seed)]


if __name__ == "__main__":
    main()
