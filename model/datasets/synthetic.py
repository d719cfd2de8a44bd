"""A deterministic synthetic shop with real structure, for tests and the demo without data.

Customers belong to taste groups and mostly buy their group's SKUs; SKU popularity within a
group is Zipf-skewed; some purchases repeat; orders spread over `days` days.
"""

from __future__ import annotations

import numpy as np

from model.interactions import Purchases

DAY = 86_400


def synthetic_shop(
    n_customers: int = 600,
    n_skus: int = 300,
    purchases_per_customer: int = 12,
    n_groups: int = 6,
    in_group: float = 0.85,
    repeat: float = 0.15,
    days: int = 180,
    seed: int = 0,
    start: int = 1_700_000_000,
) -> Purchases:
    """Purchase lines of `n_customers` over `n_skus` (about `purchases_per_customer` each)."""
    if min(n_customers, n_skus, n_groups, purchases_per_customer, days) < 1:
        raise ValueError("synthetic_shop needs positive sizes")
    if n_skus < n_groups:
        raise ValueError(f"n_skus ({n_skus}) must be at least n_groups ({n_groups})")
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, size=n_customers)
    sku_group = np.arange(n_skus) % n_groups
    zipf = 1.0 / np.arange(1, n_skus + 1) ** 0.8
    zipf = zipf[rng.permutation(n_skus)]
    cust, sku, qty, amount, when = [], [], [], [], []
    price = np.round(rng.uniform(2, 60, size=n_skus), 2)
    for c in range(n_customers):
        k = max(2, int(rng.poisson(purchases_per_customer)))
        mine = np.where(sku_group == groups[c], zipf, 0.0)
        weights = in_group * mine / mine.sum() + (1 - in_group) * zipf / zipf.sum()
        bought = rng.choice(n_skus, size=k, p=weights)
        for j in range(1, k):
            if rng.random() < repeat:
                bought[j] = bought[rng.integers(0, j)]
        times = np.sort(rng.integers(start, start + days * DAY, size=k))
        q = rng.integers(1, 4, size=k)
        cust += [f"c{c:05d}"] * k
        sku += [f"SKU-{j:05d}" for j in bought]
        qty += q.tolist()
        amount += (q * price[bought]).tolist()
        when += times.tolist()
    return Purchases(np.array(cust, dtype=object), np.array(sku, dtype=object),
                     np.array(qty, dtype=np.float64), np.array(amount), np.array(when))
