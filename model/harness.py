"""Run DMF and every baseline on one split and tabulate: the `dmfrec evaluate` engine.

One split, one candidate set, one tie-breaking seed for all models, so rows are comparable.
Models only see `fit(train matrix)` and `score(users)`; the split and the ranking live here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from model.datasets.ncf import NCFData
from model.evaluation import evaluate
from model.interactions import Interactions, Purchases
from model.splits import Split, leave_one_out, sample_candidates, time_split

PROTOCOLS = ("loo", "full", "time")
MODELS = ("dmf", "pop", "itemknn", "ease", "als", "bpr")
Factory = Callable[[int], object]


def _dmf(seed: int):
    try:
        from model.recommender import DMF
    except ImportError as exc:  # the model is developed alongside; say so instead of crashing
        raise ValueError(f"model 'dmf' is not available: {exc}") from None
    return DMF(seed=seed)


def default_factories() -> dict[str, Factory]:
    """Model name -> factory(seed); baselines with the defaults documented in their modules."""
    from model.baselines import ALS, BPR, EASE, ItemKNN, ItemPop

    return {
        "dmf": _dmf,
        "pop": lambda seed: ItemPop(),
        "itemknn": lambda seed: ItemKNN(),
        "ease": lambda seed: EASE(),
        "als": lambda seed: ALS(seed=seed),
        "bpr": lambda seed: BPR(seed=seed),
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
) -> list[dict]:
    """One row per model: {"model", "HR@k", "NDCG@k", ("Recall@k",) "fit_seconds"}.

    loo reports HR and NDCG (one item among 100 candidates); full and time add Recall. `k`
    may list several cut-offs (e.g. (10, 20)). `factories` replaces the model registry
    (tests use a dummy model); a prebuilt Split skips the split step.
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
    split = data if isinstance(data, Split) else build_split(
        data, protocol, value=value, seed=seed, cutoff=cutoff, test_days=test_days
    )
    metrics = ("HR", "NDCG") if protocol == "loo" else ("Recall", "NDCG", "HR")
    train = sp.csr_matrix(split.train.matrix, dtype=np.float32)
    rows = []
    for name in models:
        model = makers[name](seed)
        if progress:
            print(f"fitting {name} on {train.shape[0]} x {train.shape[1]} ({train.nnz} entries)",
                  file=sys.stderr, flush=True)
        started = time.perf_counter()
        if name == "dmf":
            model.fit(train.copy(), progress=progress)
        else:
            model.fit(train.copy())
        fit_seconds = time.perf_counter() - started
        row: dict = {"model": getattr(model, "name", name)}
        row.update(evaluate(model, split, ks, metrics=metrics, seed=seed))
        row["fit_seconds"] = round(fit_seconds, 2)
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Aligned text table, best value of each metric marked with '*'."""
    if not rows:
        return "(no rows)"
    cols = [c for c in rows[0] if c != "model"]
    best = {c: max(r[c] for r in rows) for c in cols if c != "fit_seconds"}
    width = max(10, *(len(str(r["model"])) + 2 for r in rows))
    head = f"{'model':<{width}}" + "".join(f"{c:>13}" for c in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = []
        for c in cols:
            if c == "fit_seconds":
                cells.append(f"{r[c]:>12.2f} ")
            else:
                mark = "*" if len(rows) > 1 and r[c] == best[c] else " "
                cells.append(f"{r[c]:>12.4f}{mark}")
        lines.append(f"{r['model']:<{width}}" + "".join(cells))
    return "\n".join(lines)


def interactions_of(data: Purchases | NCFData, value: str) -> Interactions:
    """All of a data set's interactions (training on everything, as `dmfrec train` does)."""
    if isinstance(data, NCFData):
        return _ncf_split(data, "full", value).train
    return data.to_interactions(value=value)
