"""Run DMF and every baseline on one split and tabulate: the `dmfrec evaluate` engine.

One split, one candidate set, one tie-breaking seed for all models, so rows are comparable.
Models only see `fit(train matrix)` and `score(users)`; the split and the ranking live here.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from model.datasets.ncf import NCFData
from model.evaluation import evaluate
from model.interactions import Interactions, Purchases
from model.splits import Split, default_cutoff, leave_one_out, sample_candidates, time_split
from model.validation import validation_split

PROTOCOLS = ("loo", "full", "time")
MODELS = ("dmf", "pop", "itemknn", "ease", "als", "bpr")
Factory = Callable[..., object]


class _Factory:
    """factory(seed, **params) -> an unfitted model; `fit_bytes(shape)` if the model has it."""

    def __init__(self, make: Callable[..., object], cls: type | None = None) -> None:
        self.make = make
        self.fit_bytes = getattr(cls, "fit_bytes", None)

    def __call__(self, seed: int, **params) -> object:
        return self.make(seed, **params)


def _dmf(seed: int, **params):
    from model.recommender import DMF

    return DMF(seed=seed, **params)


def default_factories() -> dict[str, Factory]:
    """Model name -> factory(seed, **params); baselines with the defaults in their modules."""
    from model.baselines import ALS, BPR, EASE, ItemKNN, ItemPop

    return {
        "dmf": _Factory(_dmf),
        "pop": _Factory(lambda seed, **p: ItemPop(**p)),
        "itemknn": _Factory(lambda seed, **p: ItemKNN(**p)),
        "ease": _Factory(lambda seed, **p: EASE(**p), EASE),
        "als": _Factory(lambda seed, **p: ALS(seed=seed, **p)),
        "bpr": _Factory(lambda seed, **p: BPR(seed=seed, **p)),
    }


def build_split(
    data: Purchases | NCFData,
    protocol: str,
    *,
    value: str = "log1p",
    seed: int = 0,
    cutoff: int | None = None,
    test_days: float | None = None,
) -> Split:
    """The split a protocol evaluates on (NCF files bring their own test items and negatives).

    `cutoff` (unix seconds) or `test_days` place the time protocol's T; default: the last
    sixth of the time span is the test window.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if isinstance(data, NCFData):
        return _ncf_split(data, protocol, value)
    if protocol == "time":
        return time_split(data, cutoff, value, test_days=test_days)[0]
    inter = data.to_interactions(value=value)
    split = leave_one_out(inter, seed=seed)
    if protocol == "loo":
        sample_candidates(split, inter.matrix, seed=seed)
    return split


def _ncf_split(data: NCFData, protocol: str, value: str) -> Split:
    """Ids in NCF files are already 0-based indices: keep them as rows and columns."""
    if protocol == "time":
        raise ValueError("NCF files carry a fixed leave-one-out split: use protocol loo or full")
    n_users = int(max(data.train.customer_id.max(), data.test_users.max())) + 1
    n_items = int(max(data.train.sku.max(), data.test_items.max(), data.negatives.max())) + 1
    inter = data.train.to_interactions(
        value=value, user_ids=np.arange(n_users), item_ids=np.arange(n_items)
    )
    split = Split(inter, data.test_users, [np.array([i]) for i in data.test_items])
    if protocol == "loo":
        split.candidates = np.column_stack([data.test_items, data.negatives])
    return split


# Each baseline's validation search (the same budget for each: at most 8 fits on the
# validation split); DMF brings defaults chosen by validation sweeps and stops early on the
# validation split (benchmarks/sweep.py).
SEARCH: dict[str, list[dict]] = {
    "pop": [{}],
    "itemknn": [{"neighbours": n} for n in (25, 50, 100, 200, 400)],
    "ease": [{"l2": v} for v in (50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0)],
    "als": [{"factors": f, "regularization": r, "alpha": a}
            for f in (64, 128) for r in (1.0, 10.0) for a in (1.0, 10.0)],
    "bpr": [{"factors": f, "learning_rate": lr, "regularization": r}
            for f in (64, 128) for lr in (0.01, 0.05) for r in (0.01, 0.001)],
    "dmf": [{}],
}
SELECT_BY = "NDCG@10"  # the validation figure that picks a configuration and stops DMF
MEMORY_SHARE = 0.75  # a fit may take at most this share of the available memory


def run_evaluation(
    data: Purchases | NCFData | Split,
    protocol: str,
    models: Sequence[str] = MODELS,
    *,
    value: str = "log1p",
    seed: int = 0,
    k: int | Sequence[int] = 10,
    progress: bool = True,
    factories: dict[str, Factory] | None = None,
    cutoff: int | None = None,
    test_days: float | None = None,
    tune: bool = True,
    dmf_seeds: int = 1,
    on_row: Callable[[dict], None] | None = None,
    memory_bytes: int | None = None,
) -> list[dict]:
    """One row per model: {"model", "HR@k", "NDCG@k", ("Recall@k",) "fit_seconds", ...}.

    Honest selection: a validation split is carved from the training part alone
    (`model.validation`); each baseline's configuration is picked on it from `SEARCH`
    (`tune`), DMF stops early on it, and the test split is scored once per model with what
    was picked. DMF trains on the validation split's training part and then serves the
    whole training matrix (its towers read rows and columns: the held-out purchases are
    folded in, not trained on). `dmf_seeds` > 1 reports DMF's mean over seeds 0..n-1 with
    the spread (`±` keys) and each seed's figures.

    SKUs without a training interaction are ranked last for every model (no model can
    gain from an item's absence). The headline scores the tested customers whose held-out
    SKUs were all seen in training; with any unseen, `all:` and `unseen:` figures and the
    shares of unseen held-out and candidate SKUs are added. loo reports HR and NDCG, full
    and time add Recall; `k` may list several cut-offs. `on_row(row)` is called as each row
    is done (`dmfrec evaluate --json` writes it at once). A model that would need more
    memory than is available (`memory_bytes`, default: what the system reports) is skipped
    with a row saying so.
    """
    makers = factories or default_factories()
    models = list(models)
    unknown = [m for m in models if m not in makers]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(makers)}")
    ks = (k,) if isinstance(k, int) else tuple(k)
    if not ks or min(ks) < 1:
        raise ValueError(f"k must be positive, not {k}")
    if isinstance(data, Split):
        split, val = data, None
    else:
        split, val = build_splits(data, protocol, value=value, seed=seed, cutoff=cutoff,
                                  test_days=test_days)
    metrics = ("HR", "NDCG") if split.candidates is not None else ("Recall", "NDCG", "HR")
    parts = user_groups(split)
    shares = unseen_shares(split)
    train = sp.csr_matrix(split.train.matrix, dtype=np.float32)
    available = memory_bytes if memory_bytes is not None else available_memory()
    rows = []
    for name in models:
        need = _fit_bytes(makers[name], train.shape)
        if need is not None and need > MEMORY_SHARE * available:
            row = {"model": name, "skipped": f"needs about {need / 2**30:.1f} GiB to fit "
                   f"({train.shape[1]:,} SKUs), {available / 2**30:.1f} GiB available"}
            if progress:
                print(f"skipping {name}: {row['skipped']}", file=sys.stderr, flush=True)
        else:
            if progress:
                print(f"fitting {name} on {train.shape[0]} x {train.shape[1]} "
                      f"({train.nnz} entries)", file=sys.stderr, flush=True)
            row = _evaluate_model(name, makers[name], split, val, parts, ks, metrics, seed,
                                  tune, dmf_seeds, progress)
            row.update(shares)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def build_splits(
    data: Purchases | NCFData, protocol: str, *, value: str = "log1p", seed: int = 0,
    cutoff: int | None = None, test_days: float | None = None,
) -> tuple[Split, Split | None]:
    """(test split, validation split carved from its training part; None if too little)."""
    split = build_split(data, protocol, value=value, seed=seed, cutoff=cutoff,
                        test_days=test_days)
    if protocol == "time" and cutoff is None:
        cutoff = default_cutoff(data, test_days)
    try:
        val = validation_split(split, protocol, purchases=data if protocol == "time" else None,
                               cutoff=cutoff, value=value, seed=seed)
    except ValueError:  # a tiny data set: no validation customers; defaults as they are
        val = None
    return split, val


def _evaluate_model(name, factory, split, val, parts, ks, metrics, seed, tune, dmf_seeds,
                    progress) -> dict:
    train = sp.csr_matrix(split.train.matrix, dtype=np.float32)
    picked, val_figure = {}, None
    if tune and val is not None and len(SEARCH.get(name, [{}])) > 1:
        scored = []
        for params in SEARCH[name]:
            model = _make(factory, seed, params)
            model.fit(sp.csr_matrix(val.train.matrix, dtype=np.float32))
            scored.append((evaluate(model, val, 10, metrics=metrics, seed=seed)[SELECT_BY],
                           params))
        val_figure, picked = max(scored, key=lambda t: t[0])
    is_dmf = name.startswith("dmf")  # "dmf" and its variants (benchmarks.quality --dmf)
    seeds = range(seed, seed + (dmf_seeds if is_dmf else 1))
    runs, model = [], None
    for s in seeds:
        model = _make(factory, s, picked)
        started = time.perf_counter()
        if is_dmf:
            inner = val.train.matrix if val is not None else train
            model.fit(sp.csr_matrix(inner, dtype=np.float32), progress=progress, validation=val)
            if val is not None:
                val_figure = evaluate(model, val, 10, metrics=metrics, seed=seed)[SELECT_BY]
                model.set_matrix(train)  # serve every training purchase: fold-in, no training
        else:
            model.fit(train.copy())
        fit_seconds = time.perf_counter() - started
        figures = {}
        for label, users in parts.items():
            sub = evaluate(model, subset(split, users), ks, metrics=metrics, seed=seed)
            figures.update({f"{label}{key}": v for key, v in sub.items()})
        runs.append({**figures, "fit_seconds": round(fit_seconds, 2),
                     **({f"val_{SELECT_BY}": round(val_figure, 4)} if val_figure else {})})
    row: dict = {"model": getattr(model, "name", name)}
    if len(runs) == 1:
        row.update(runs[0])
    else:
        for key in runs[0]:
            values = np.array([r[key] for r in runs])
            row[key] = float(values.mean())
            row[f"±{key}"] = float(values.std(ddof=1))
        row["seeds"] = runs
    if picked:
        row["params"] = picked
    if is_dmf and getattr(model, "history", None):
        row["epochs"] = [int(h["epoch"]) for h in _best_epochs(model.history)]
    return row


def _best_epochs(history: list[dict]) -> list[dict]:
    """Per member, the epoch whose weights were kept: the best on validation, or the last
    one for a member that trained a fixed count (`members_follow_first`)."""
    best: dict[int, dict] = {}
    for h in history:
        m = h.get("member", 1)
        if h.get("dropped"):  # a member the ensemble did not keep (members_stop_early)
            continue
        if m not in best or "val_ndcg" not in h or h["val_ndcg"] > best[m].get("val_ndcg", -1):
            best[m] = h
    return list(best.values())


def _make(factory: Factory, seed: int, params: dict):
    return factory(seed, **params) if params else factory(seed)


def _fit_bytes(factory: Factory, shape: tuple[int, int]) -> int | None:
    """What the model says a fit of this shape needs (models without `fit_bytes`: None)."""
    estimate = getattr(factory, "fit_bytes", None)
    return int(estimate(shape)) if estimate is not None else None


def available_memory() -> int:
    """MemAvailable from /proc/meminfo (bytes), or $DMFREC_EVAL_MEMORY_BYTES; else no limit."""
    if os.environ.get("DMFREC_EVAL_MEMORY_BYTES"):
        return int(os.environ["DMFREC_EVAL_MEMORY_BYTES"])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2**62


def user_groups(split: Split) -> dict[str, np.ndarray]:
    """Headline: tested customers whose held-out SKUs were all seen in training; with any
    unseen, "all:" (everyone) and "unseen:" (held-out SKU never seen) beside it."""
    seen = np.diff(split.train.matrix.tocsc().indptr) > 0
    warm = np.array([bool(seen[t].all()) for t in split.test_items], dtype=bool)
    groups = {"": np.flatnonzero(warm)}
    if not warm.all():
        groups["all:"] = np.arange(len(split.users))
        groups["unseen:"] = np.flatnonzero(~warm)
    return {label: idx for label, idx in groups.items() if len(idx)}


def unseen_shares(split: Split) -> dict[str, float]:
    """Shares of held-out SKUs and of sampled candidates with no training interaction."""
    seen = np.diff(split.train.matrix.tocsc().indptr) > 0
    held = np.concatenate(split.test_items)
    out = {"unseen_held_out": round(float(1 - seen[held].mean()), 4)}
    if split.candidates is not None:
        out["unseen_negatives"] = round(float(1 - seen[split.candidates[:, 1:]].mean()), 4)
    return out


def subset(split: Split, idx: np.ndarray) -> Split:
    """The same split restricted to some of its tested customers (by position)."""
    cand = split.candidates[idx] if split.candidates is not None else None
    return Split(split.train, split.users[idx], [split.test_items[i] for i in idx], cand)


def format_table(rows: list[dict]) -> str:
    """Aligned text table, best value of each metric marked with '*'; a seed mean shows its
    spread (mean±sd), a skipped model its reason."""
    if not rows:
        return "(no rows)"
    done = [r for r in rows if "skipped" not in r]
    cols: list[str] = []  # every figure some row has, in first-seen order
    for r in done:
        cols += [c for c, v in r.items() if isinstance(v, int | float) and c not in cols
                 and not c.startswith(("±", "unseen_"))]
    best = {c: max(r[c] for r in done if c in r) for c in cols if c != "fit_seconds"}
    width = max(10, *(len(str(r["model"])) + 2 for r in rows))
    cell = 20 if any(f"±{c}" in r for r in done for c in cols) else 13
    head = f"{'model':<{width}}" + "".join(f"{c:>{cell}}" for c in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['model']:<{width}}  skipped: {r['skipped']}")
            continue
        cells = []
        for c in cols:
            if c not in r:  # e.g. a validation figure of a model with nothing to tune
                cells.append(f"{'-':>{cell - 1}} ")
                continue
            text = f"{r[c]:.2f}" if c == "fit_seconds" else f"{r[c]:.4f}"
            if f"±{c}" in r:
                text += f"±{r[f'±{c}']:.{2 if c == 'fit_seconds' else 4}f}"
            mark = "*" if c in best and len(done) > 1 and r[c] == best[c] else " "
            cells.append(f"{text:>{cell - 1}}{mark}")
        lines.append(f"{r['model']:<{width}}" + "".join(cells))
    return "\n".join(lines)


def interactions_of(data: Purchases | NCFData, value: str) -> Interactions:
    """All of a data set's interactions (training on everything, as `dmfrec train` does)."""
    if isinstance(data, NCFData):
        return _ncf_split(data, "full", value).train
    return data.to_interactions(value=value)
