"""Run DMF and every baseline on one split and tabulate: the `dmfrec evaluate` engine.

One split, one candidate set, one tie-breaking seed for all models, so rows are comparable.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from model.datasets.ncf import NCFData
from model.evaluation import evaluate
from model.interactions import Interactions, Purchases
from model.splits import Split, leave_one_out, sample_candidates, time_split

PROTOCOLS = ("loo", "full", "time")


def _factories() -> dict[str, Callable[[int], object]]:
    from model.baselines import ALS, BPR, EASE, ItemKNN, ItemPop

    def dmf(seed: int):
        from model.recommender import DMF

        return DMF(seed=seed)

    return {
        "dmf": dmf,
        "pop": lambda seed: ItemPop(),
        "itemknn": lambda seed: ItemKNN(),
        "ease": lambda seed: EASE(),
        "als": lambda seed: ALS(seed=seed),
        "bpr": lambda seed: BPR(seed=seed),
    }


MODELS = ("dmf", "pop", "itemknn", "ease", "als", "bpr")


def build_split(
    data: Purchases | NCFData, protocol: str, *, value: str = "log1p", seed: int = 0
) -> Split:
    """The split a protocol evaluates on (NCF files bring their own)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if isinstance(data, NCFData):
        return _ncf_split(data, protocol, value)
    if protocol == "time":
        return time_split(data, value=value)[0]
    inter = data.to_interactions(value=value)
    split = leave_one_out(inter, seed=seed)
    if protocol == "loo":
        sample_candidates(split, inter.matrix, seed=seed)
    return split


def _ncf_split(data: NCFData, protocol: str, value: str) -> Split:
    if protocol == "time":
        raise ValueError("NCF files carry no timestamps: use protocol loo or full")
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
    models: list[str] | tuple[str, ...] = MODELS,
    *,
    value: str = "log1p",
    seed: int = 0,
    k: int = 10,
    factories: dict[str, Callable[[int], object]] | None = None,
    progress: bool = True,
) -> list[dict]:
    """One row per model: {"model", "HR@k", "NDCG@k", "Recall@k", "fit_seconds"}."""
    makers = factories or _factories()
    unknown = [m for m in models if m not in makers]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(makers)}")
    split = data if isinstance(data, Split) else build_split(data, protocol, value=value, seed=seed)
    metrics = ("HR", "NDCG") if protocol == "loo" else ("Recall", "NDCG", "HR")
    rows = []
    for name in models:
        model = makers[name](seed)
        started = time.perf_counter()
        if name == "dmf":
            model.fit(split.train.matrix, progress=progress)
        else:
            model.fit(sp.csr_matrix(split.train.matrix))
        fit_seconds = time.perf_counter() - started
        row = {"model": getattr(model, "name", name)}
        row.update(evaluate(model, split, k, metrics=metrics, seed=seed))
        row["fit_seconds"] = round(fit_seconds, 2)
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Aligned text table, best value of each metric marked with '*'."""
    if not rows:
        return "(no rows)"
    cols = [c for c in rows[0] if c != "model"]
    best = {c: max(r[c] for r in rows) for c in cols if c != "fit_seconds"}
    head = f"{'model':<10}" + "".join(f"{c:>13}" for c in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = []
        for c in cols:
            mark = "*" if c in best and r[c] == best[c] else " "
            cells.append(f"{r[c]:>12.4f}{mark}" if c != "fit_seconds" else f"{r[c]:>12.1f} ")
        lines.append(f"{r['model']:<10}" + "".join(cells))
    return "\n".join(lines)


def interactions_of(data: Purchases | NCFData, value: str) -> Interactions:
    """All of a data set's interactions (training on everything, as `dmfrec train` does)."""
    if isinstance(data, NCFData):
        return _ncf_split(data, "full", value).train
    return data.to_interactions(value=value)
