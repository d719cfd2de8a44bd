"""Training input: the counted purchases inside a time window, as the model's sparse matrix.

As in the original extraction (per customer and SKU over the last 3 months, simple products),
but exact: each line contributes its effective quantity and amount from the order's newest
snapshot, under the same counting policy as the `interactions` table. With `window_days=0` the
result equals the `interactions` table itself. One streamed query (server-side cursor on
MariaDB, `yield_per` batches) feeds `model.interactions.Purchases.to_interactions`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Engine, func, select

from config import get_settings
from model.interactions import Interactions, Purchases, ValueScheme
from storage.db import as_engine
from storage.ingestion import ORDERS, Policy, utcnow
from storage.pairs import aggregate_query

BATCH = 10_000


def window_bounds(
    engine: Engine, window_days: int, until: datetime | str | None
) -> tuple[datetime | None, datetime | None]:
    """[since, until) of the window; until=None is now (UTC), "latest" the newest order + 1s.

    window_days <= 0 with until=None means all history: (None, None).
    """
    if window_days <= 0 and until is None:
        return None, None
    if until == "latest":
        with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            newest = conn.execute(select(func.max(ORDERS.c.created_at))).scalar()
        until = newest + timedelta(seconds=1) if newest else utcnow()
    elif until is None:
        until = utcnow()
    elif not isinstance(until, datetime):
        raise ValueError(f"until must be a datetime, None or 'latest', not {until!r}")
    since = until - timedelta(days=window_days) if window_days > 0 else None
    return since, until


def load_interactions(
    engine_or_url: Engine | str | None = None,
    window_days: int | None = None,
    value: ValueScheme = "log1p",
    until: datetime | str | None = None,
    policy: Policy | None = None,
) -> Interactions:
    """customers x SKUs from orders placed in [until - window_days, until).

    window_days: default `DMFREC_WINDOW_DAYS` (92, about 3 months); 0 reads all history.
    value: "binary", "quantity", "log1p" (of the summed effective quantity) or "amount".
    until: naive UTC datetime, None (now) or "latest" (just after the newest order, handy for
    historical data). Row ids are customer keys (str), column ids SKUs (str).
    """
    engine = as_engine(engine_or_url)
    policy = policy or Policy.from_settings()
    if window_days is None:
        window_days = get_settings().window_days
    since, end = window_bounds(engine, window_days, until)
    q = aggregate_query(policy)
    if since is not None:
        q = q.where(ORDERS.c.created_at >= since)
    if end is not None:
        q = q.where(ORDERS.c.created_at < end)
    customers: list[str] = []
    skus: list[str] = []
    qty: list[float] = []
    amount: list[float] = []
    last: list[int] = []
    with engine.connect().execution_options(
        stream_results=True, yield_per=BATCH, sqlite_begin="DEFERRED"
    ) as conn:
        for r in conn.execute(q):
            customers.append(r.customer_key)
            skus.append(r.sku)
            qty.append(float(r.qty))
            amount.append(float(r.amount))
            last.append(int(_as_utc_seconds(r.last_at)))
    purchases = Purchases(
        customer_id=np.array(customers, dtype=object),
        sku=np.array(skus, dtype=object),
        qty=np.array(qty, dtype=np.float64),
        amount=np.array(amount, dtype=np.float64),
        ordered_at=np.array(last, dtype=np.int64),
    )
    return purchases.to_interactions(value)


def _as_utc_seconds(value: datetime) -> float:
    return (value - datetime(1970, 1, 1)).total_seconds()
