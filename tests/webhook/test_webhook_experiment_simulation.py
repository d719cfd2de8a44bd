"""A shop simulated end to end on the real services (Redis, the app over its WSGI interface,
the signed order webhook, the worker's ingestion and attribution): customers are split
between DMF and popular by the experiment's hash, see their arm's list, report impressions
and clicks through the analytics endpoint and buy some clicked SKUs (and others). DMF's
lists hold what each customer likes, so they are clicked and bought more (the synthetic
click model); the report must find that difference significant, and the attributed revenue
must equal the sum of the order lines whose SKU the same customer clicked."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
from sqlalchemy import func, select

from storage import experiments, ingestion
from storage.analytics_models import AttributedLine
from storage.experiment_report import report
from storage.models import Base
from webhook import services
from worker import attribution, publish
from worker.runtime import Runtime

CUSTOMERS = 240
CATALOGUE = [f"SKU-{k:03d}" for k in range(60)]


def test_simulated_shop_dmf_beats_popular(app, client, settings, r, post_order, token):
    rng = np.random.default_rng(7)
    tastes = {c: set(rng.choice(CATALOGUE, 8, replace=False)) for c in range(1, CUSTOMERS + 1)}
    publish.publish_user_lists(r, "v1", {str(c): [(s, 1.0) for s in sorted(t)]
                                         for c, t in tastes.items()})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [(s, 1.0) for s in CATALOGUE[:10]])
    r.set(publish.POPULAR_LOCK, "1", ex=3600)  # keep this popular list for the whole run
    with app.app_context():
        engine = services.engine()
        Base.metadata.create_all(engine)
        experiments.start(engine, r, "dmf-vs-popular",
                          experiments.parse_arms("dmf=50,popular=50"))
    rt = Runtime.from_settings(settings)
    expected = Decimal(0)
    arms_seen = set()
    for c, taste in tastes.items():
        auth = {"Authorization": f"Bearer {token(c)}"}
        body = client.get(f"/v1/customers/{c}/recommendations?limit=5", headers=auth).get_json()
        rec = body["recommendation"]
        arms_seen.add(rec["arm"])
        skus = [i["sku"] for i in body["items"]]
        events = [{"type": "impression", "sku": s, "position": k}
                  for k, s in enumerate(skus, 1)]
        # The click model: a SKU the customer likes is clicked far more often.
        clicked = [s for s in skus if rng.random() < (0.35 if s in taste else 0.04)]
        events += [{"type": "click", "sku": s, "position": skus.index(s) + 1} for s in clicked]
        served = {k: rec[k] for k in ("id", "subject", "experiment", "arm", "version", "day")}
        beacon = {"token": token(c), "reports": [
            {"recommendation": served | {"skus": skus}, "events": events}]}
        sent = client.post("/v1/analytics/events", data=json.dumps(beacon),
                           content_type="text/plain")
        assert sent.status_code == 202, sent.get_json()
        bought = [s for s in clicked if rng.random() < 0.6]
        if not bought and rng.random() > 0.15:
            continue
        other = next(s for s in CATALOGUE[40:] if s not in skus)  # bought without a click
        lines = [(s, int(rng.integers(1, 4)), int(rng.integers(5, 50))) for s in bought]
        lines.append((other, 1, 9))
        items = [{"item_id": c * 100 + k, "sku": s, "qty_ordered": q, "price": p,
                  "row_total": q * p, "base_row_total": q * p * 2}  # base currency: x2
                 for k, (s, q, p) in enumerate(lines)]
        expected += sum(Decimal(q * p * 2) for s, q, p in lines if s in clicked)
        event = {"event_id": f"order-{c}", "order": {
            "entity_id": c, "increment_id": str(c), "customer_id": c,
            "customer_email": f"{c}@example.com", "state": "processing", "status": "processing",
            "created_at": rec["day"] + " 23:59:59", "updated_at": rec["day"] + " 23:59:59",
            "items": items}}
        assert post_order(event).status_code == 202
        # What the ingest worker does with it (worker.live.process_event, whose model
        # refresh needs a trained artifact; tests/worker/test_worker_attribution.py runs it).
        assert ingestion.process(rt.engine, [f"order-{c}"], rt.policy) == {
            f"order-{c}": "applied"}
        attribution.refresh_order(rt, c)
    assert arms_seen == {"dmf", "popular"}

    with app.app_context(), services.engine().connect() as conn:
        credited = conn.scalar(select(func.sum(AttributedLine.amount)))
    assert credited == expected > 0
    rep = report(rt.engine)
    by_arm = {a["arm"]: a for a in rep["arms"]}
    assert abs(by_arm["dmf"]["visitors"] - by_arm["popular"]["visitors"]) < CUSTOMERS * 0.2
    assert sum(a["revenue"] for a in rep["arms"]) == float(expected)
    (versus,) = rep["comparisons"]
    assert (versus["arm"], versus["baseline"]) == ("dmf", "popular")
    assert by_arm["dmf"]["ctr"] > by_arm["popular"]["ctr"]
    assert by_arm["dmf"]["conversion"] > by_arm["popular"]["conversion"]
    assert versus["ctr_p_value"] < 0.01 and versus["conversion_p_value"] < 0.01
    assert versus["revenue_per_visitor_difference_ci"][0] > 0
    # Stopping makes the winner everybody's list.
    experiments.stop(rt.engine, r, "dmf-vs-popular", "dmf")
    popular_before = [c for c in tastes if experiments.assign(
        {"status": "running", "name": "x", "salt": "y", "arms": [["dmf", 1], ["popular", 1]]},
        str(c)).arm == "popular"]
    assert popular_before
    answer = client.get(f"/v1/customers/{CUSTOMERS + 1}/recommendations",
                        headers={"Authorization": f"Bearer {token(CUSTOMERS + 1)}"}).get_json()
    assert answer["recommendation"]["arm"] == "dmf"
    assert answer["recommendation"]["experiment"] == ""
    rt.engine.dispose()
