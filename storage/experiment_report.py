"""The per-arm report of an A/B experiment, with confidence intervals.

Visitors are the subjects with at least one impression in the experiment; a converter is a
visitor with at least one attributed order line. Per arm: impressions, clicks, CTR,
conversion and attributed revenue per visitor (every visitor counts, buyers or not). CTR and
conversion get Wilson intervals and, against the baseline arm (``popular`` when present, else
the last arm), a two-proportion z-test (statsmodels); revenue per visitor gets a BCa bootstrap
interval of each arm's mean and of the difference of means (scipy.stats.bootstrap). It reads
the raw impression/click rows, so report an experiment within DMFREC_ANALYTICS_RAW_DAYS: the
per-day roll-up keeps no visitors, and ``rolled_up_until`` names the last day it holds of this
experiment (those days' visitors are left out) so a partial report never passes as whole.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from storage import experiments
from storage.analytics_models import AttributedLine, RecDaily, RecEvent
from storage.db import run_transaction

ALPHA = 0.05
RESAMPLES = 2000


def _counts(session: Session, name: str) -> dict[str, dict[str, dict[str, float]]]:
    """arm -> subject -> {"impression": n, "click": n, "revenue": x}."""
    per: dict[str, dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(lambda: {"impression": 0, "click": 0, "revenue": 0.0}))
    for arm, subject, kind, n in session.execute(
            select(RecEvent.arm, RecEvent.subject, RecEvent.kind, func.count())
            .where(RecEvent.experiment == name)
            .group_by(RecEvent.arm, RecEvent.subject, RecEvent.kind)):
        per[arm][subject][kind] += n
    for arm, subject, amount in session.execute(
            select(AttributedLine.arm, AttributedLine.customer_key, func.sum(AttributedLine.amount))
            .where(AttributedLine.experiment == name)
            .group_by(AttributedLine.arm, AttributedLine.customer_key)):
        per[arm][subject]["revenue"] += float(amount)
    return per


def _interval(successes: int, trials: int) -> list[float] | None:
    if not trials:
        return None
    lo, hi = proportion_confint(successes, trials, alpha=ALPHA, method="wilson")
    return [float(lo), float(hi)]


def _bootstrap(*samples: np.ndarray, statistic) -> list[float] | None:
    if any(len(s) < 2 for s in samples) or all(np.ptp(s) == 0 for s in samples):
        return None  # no spread: no interval to estimate
    result = stats.bootstrap(samples, statistic, n_resamples=RESAMPLES, confidence_level=1 - ALPHA,
                             method="BCa", random_state=np.random.default_rng(0))
    ci = result.confidence_interval
    return [float(ci.low), float(ci.high)]


def _ztest(a: tuple[int, int], b: tuple[int, int]) -> float | None:
    if not (a[1] and b[1]) or a[0] + b[0] in (0, a[1] + b[1]):
        return None  # all or nothing on both sides: the test is undefined
    _, p = proportions_ztest([a[0], b[0]], [a[1], b[1]])
    return float(p)


def report(engine: Engine, name: str | None = None) -> dict[str, Any]:
    """The report of experiment `name` (default: the running one, else the newest)."""
    row = experiments.get(engine, name)
    if row is None:
        raise experiments.ExperimentError(f"no experiment {name!r}" if name
                                          else "no experiment has been started")
    per = run_transaction(engine, lambda s: _counts(s, row.name))
    rolled = run_transaction(engine, lambda s: s.scalar(
        select(func.max(RecDaily.day)).where(RecDaily.experiment == row.name)))
    arm_names = [a for a, _ in row.arms]
    baseline = "popular" if "popular" in arm_names else arm_names[-1]
    arms, raw = [], {}
    for arm in arm_names:
        subjects = {s: v for s, v in per.get(arm, {}).items() if v["impression"] > 0}
        impressions = int(sum(v["impression"] for v in subjects.values()))
        clicks = int(sum(v["click"] for v in subjects.values()))
        revenue = np.array([v["revenue"] for v in subjects.values()], dtype=float)
        converters = int((revenue > 0).sum())
        visitors = len(subjects)
        raw[arm] = (clicks, impressions, converters, visitors, revenue)
        arms.append({
            "arm": arm, "visitors": visitors, "impressions": impressions, "clicks": clicks,
            "ctr": clicks / impressions if impressions else None,
            "ctr_ci": _interval(clicks, impressions),
            "converters": converters, "conversion": converters / visitors if visitors else None,
            "conversion_ci": _interval(converters, visitors),
            "revenue": round(float(revenue.sum()), 4),
            "revenue_per_visitor": float(revenue.mean()) if visitors else None,
            "revenue_per_visitor_ci": _bootstrap(revenue, statistic=np.mean),
        })
    comparisons = []
    for arm in arm_names:
        if arm == baseline:
            continue
        a, b = raw[arm], raw[baseline]
        comparisons.append({
            "arm": arm, "baseline": baseline,
            "ctr_p_value": _ztest((a[0], a[1]), (b[0], b[1])),
            "conversion_p_value": _ztest((a[2], a[3]), (b[2], b[3])),
            "revenue_per_visitor_difference_ci": _bootstrap(
                a[4], b[4], statistic=lambda x, y, axis=-1: (np.mean(x, axis=axis)
                                                             - np.mean(y, axis=axis))),
        })
    return {"experiment": row.name, "status": row.status, "winner": row.winner,
            "arms_shares": row.arms, "baseline": baseline, "alpha": ALPHA, "arms": arms,
            "comparisons": comparisons,
            "rolled_up_until": None if rolled is None else str(rolled)}
