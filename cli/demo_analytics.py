"""`dmfrec demo`'s simulated week of storefront analytics, for the dashboard.

An A/B experiment (dmf / popular / magento, a third each) is started and a week is simulated
forward: each visit shows a customer their arm's list (5 SKUs), read by the storefront's own
script (webhook.lists): the model's published list, the popular one, or Magento's links of what
the customer bought. The demo shop has no Magento, so its "Magento links" are a stand-in for a
merchant's hand-made ones, sent through the catalogue sync's code: each SKU's neighbours in
SKU order (3 after it related, 2 before it up-sells; the same category in most SKU schemes).
The synthetic click model: a listed SKU among the customer's "taste" (the 20 SKUs most
bought by customers who share a purchase with them, their own purchases left out) is clicked
with probability 0.3, any other with 0.03; a clicked SKU is bought with probability 0.5 (a
new order at the SKU's last price, applied by storage's ingestion, no webhook event). Clicks
are recorded as the analytics endpoint records them and the simulated orders are attributed
by the live loop's code (storage.analytics.attribute). The experiment is then stopped with
the arm earning most per visitor as the winner, which the live demo storefront serves.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import numpy as np
import scipy.sparse as sp
from sqlalchemy import select

from storage import analytics, experiments
from storage.catalog import apply_catalog, parse_catalog
from storage.db import run_transaction
from storage.experiment_report import report
from storage.ingestion import apply_snapshots, utcnow
from storage.models import Interaction, Product
from storage.snapshot import parse_event
from webhook import lists, recids
from webhook.catalog import publish_states
from webhook.experiments import LIST_KINDS
from worker.runtime import Runtime

SHOWN = 5
TASTE = 20
FIRST_ORDER_ID = 900_000_000  # far above the replayed history's ids


def tastes(pairs: list[tuple[str, str]]) -> dict[str, set[str]]:
    """customer -> the TASTE SKUs most bought by customers sharing a purchase with them."""
    customers = sorted({c for c, _ in pairs})
    skus = sorted({s for _, s in pairs})
    row = {c: k for k, c in enumerate(customers)}
    col = {s: k for k, s in enumerate(skus)}
    m = sp.csr_matrix((np.ones(len(pairs)), ([row[c] for c, _ in pairs],
                                             [col[s] for _, s in pairs])),
                      shape=(len(customers), len(skus)))
    m.data[:] = 1.0
    scores = ((m @ m.T) @ m).toarray()
    scores[m.toarray() > 0] = -1  # their own purchases are no discovery
    top = np.argsort(-scores, axis=1)[:, :TASTE]
    return {c: {skus[j] for j in top[k] if scores[k, j] > 0} for k, c in enumerate(customers)}


def send_demo_links(rt: Runtime, skus: list[str], batch: int = 5000) -> int:
    """Each SKU's stand-in Magento links (its neighbours in SKU order), stored and published
    as the module's product states are; returns how many SKUs got links."""
    ordered = sorted(set(skus))
    n = len(ordered)
    states = [{"sku": sku, "related": [ordered[(k + d) % n] for d in (1, 2, 3) if d < n],
               "upsell": [ordered[(k - d) % n] for d in (1, 2) if 3 + d <= n]}
              for k, sku in enumerate(ordered)]
    for start in range(0, n, batch):
        event = parse_catalog({"event_id": f"demo-links-{start}",
                               "occurred_at": utcnow().isoformat() + "Z",
                               "products": states[start:start + batch]})
        publish_states(rt.redis, apply_catalog(rt.engine, event))
    return n


def simulate_week(rt: Runtime, secret: str, seed: int = 0, visits: int = 400) -> dict:
    """Record a simulated week of impressions, clicks and orders; a summary."""
    rng = random.Random(seed)
    with rt.reading() as session:
        pairs = [(c, s) for c, s in session.execute(
            select(Interaction.customer_key, Interaction.sku).where(Interaction.qty > 0))]
        prices = {s: float(p) for s, p in session.execute(select(Product.sku, Product.price))
                  if p is not None}
    taste = tastes(pairs)
    send_demo_links(rt, [s for _, s in pairs])
    start = utcnow() - timedelta(days=7)
    config = experiments.start(rt.engine, rt.redis, f"demo-{utcnow():%Y%m%d%H%M%S}",
                               [("dmf", 34.0), ("popular", 33.0), ("magento", 33.0)])
    script = lists.register(rt.redis)
    rows, orders = [], []
    # In time order: a repeated click on the same list the same day is one click, the first.
    week = sorted((start + timedelta(seconds=rng.randrange(7 * 86_400 - 3600)), customer)
                  for customer in rng.choices(sorted(taste), k=visits))
    for at, customer in week:
        arm = experiments.assign(config, customer)
        kind = LIST_KINDS[arm.arm]  # as the storefront serves the arm (webhook.storefront)
        served = lists.serve(script, kind, customer if kind else "", limit=SHOWN, exclude=[],
                             website=None,
                             buyer=customer if rt.settings.exclude_purchased else None)
        shown = [item["sku"] for item in json.loads(served.items)]
        version = None if served.fallback or not kind else served.version
        rec = recids.rec_id(secret, customer, arm.experiment, arm.arm, version,
                            at.date().isoformat(), shown)
        for k, sku in enumerate(shown, 1):
            row = {"rec_id": rec, "sku": sku, "kind": "impression", "position": k,
                   "subject": customer, "experiment": arm.experiment, "arm": arm.arm,
                   "version": version, "at": at}
            rows.append(row)
            if rng.random() < (0.3 if sku in taste[customer] else 0.03):
                rows.append(row | {"kind": "click", "at": at + timedelta(minutes=1)})
                if rng.random() < 0.5 and customer.isdigit():
                    orders.append(_order(FIRST_ORDER_ID + len(orders), int(customer), sku,
                                         prices.get(sku, 10.0), at + timedelta(minutes=10)))
    analytics.record_events(rt.engine, rows)
    run_transaction(rt.engine, lambda s: apply_snapshots(s, orders, rt.policy))
    ids = [o.entity_id for o in orders]
    credited = analytics.attribute(rt.engine, ids, rt.policy, rt.settings.attribution_days)
    arms = report(rt.engine, config["name"])["arms"]
    winner = max(arms, key=lambda a: a["revenue_per_visitor"] or 0.0)["arm"]
    experiments.stop(rt.engine, rt.redis, config["name"], winner)
    return {"experiment": config["name"], "visits": visits, "events": len(rows),
            "orders": len(orders), "credited_lines": credited, "winner": winner}


def _order(entity: int, customer: int, sku: str, price: float, at):
    stamp = at.strftime("%Y-%m-%d %H:%M:%S")
    return parse_event({"event_id": f"demo-sim-{entity}", "order": {
        "entity_id": entity, "increment_id": str(entity), "customer_id": customer,
        "state": "processing", "status": "processing", "created_at": stamp,
        "updated_at": stamp, "items": [{"item_id": 1, "sku": sku, "qty_ordered": 1,
                                        "price": price, "row_total": price}]}}).order
