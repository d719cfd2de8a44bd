"""`dmfrec demo`'s simulated week of storefront analytics, for the dashboard.

An A/B experiment (dmf 50 / popular 50) is started; every customer with an order in the last
7 days of the replayed history, and as many without, "saw" their arm's list (5 SKUs) an hour
before each order (or at noon on a random day): the model's published list or the popular
one. Clicks follow a synthetic model: a listed SKU the customer then bought is clicked with
probability 0.8, any other with 0.03. The clicks are recorded as the analytics endpoint
records them, then the week's real orders are attributed by the same code as the live loop
(storage.analytics.attribute): the revenue shown is that of real order lines, the visits and
clicks are simulated. The experiment is then stopped with DMF as the winner, so the live demo
storefront serves DMF to everybody (its check buys from a DMF list)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from storage import analytics, experiments
from storage.ingestion import utcnow
from storage.models import Order, OrderLine
from webhook import recids
from worker import publish
from worker.runtime import Runtime

SHOWN = 5


def simulate_week(rt: Runtime, secret: str, seed: int = 0) -> dict:
    """Record a week of impressions and clicks, attribute the week's orders; a summary."""
    rng = random.Random(seed)
    since = utcnow() - timedelta(days=7)
    with rt.reading() as session:
        lines = session.execute(
            select(Order.entity_id, Order.customer_key, Order.created_at, OrderLine.sku)
            .join(OrderLine, OrderLine.order_id == Order.entity_id)
            .where(Order.created_at >= since, Order.customer_key.is_not(None))).all()
        everybody = sorted(set(session.scalars(
            select(Order.customer_key).where(Order.customer_key.is_not(None)).distinct())))
    orders: dict[tuple, set[str]] = defaultdict(set)
    for order_id, customer, at, sku in lines:
        orders[(order_id, customer, at)].add(sku)
    buyers = {c for _, c, _ in orders}
    idle = [c for c in everybody if c not in buyers]
    visits = [(c, at - timedelta(hours=1), skus) for (_, c, at), skus in orders.items()]
    visits += [(c, since + timedelta(days=rng.randrange(7), hours=12), set())
               for c in rng.sample(idle, min(len(idle), len(buyers)))]
    config = experiments.start(rt.engine, rt.redis, f"demo-{utcnow():%Y%m%d%H%M%S}",
                               [("dmf", 50.0), ("popular", 50.0)])
    popular = [s for s, _ in publish.read_popular(rt.redis)][:SHOWN]
    rows = []
    for customer, at, bought in visits:
        arm = experiments.assign(config, customer)
        version, own = publish.read_user_list(rt.redis, customer)
        shown = [s for s, _ in own][:SHOWN] if arm.arm == "dmf" and own else popular
        rec = recids.rec_id(secret, customer, arm.experiment, arm.arm, version,
                            at.date().isoformat(), shown)
        for k, sku in enumerate(shown, 1):
            row = {"rec_id": rec, "sku": sku, "kind": "impression", "position": k,
                   "subject": customer, "experiment": arm.experiment, "arm": arm.arm,
                   "version": version, "at": at}
            rows.append(row)
            if rng.random() < (0.8 if sku in bought else 0.03):
                rows.append(row | {"kind": "click", "at": at + timedelta(minutes=5)})
    analytics.record_events(rt.engine, rows)
    credited = analytics.attribute(rt.engine, [o for o, _, _ in orders], rt.policy,
                                   rt.settings.attribution_days)
    # The live demo storefront keeps DMF for everybody (its check buys from a DMF list).
    experiments.stop(rt.engine, rt.redis, config["name"], "dmf")
    return {"experiment": config["name"], "visits": len(visits), "events": len(rows),
            "orders": len(orders), "credited_lines": credited}
