"""The demo's simulated analytics week: the three arms' lists served by the storefront's script
(Magento's stand-in links included), impressions and clicks recorded, the simulated orders
attributed by the live code, the experiment stopped with the better arm serving everybody."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from cli.demo_analytics import simulate_week, tastes
from storage import experiments
from storage.analytics_models import AttributedLine, RecEvent
from storage.experiment_report import report
from storage.ingestion import ingest, utcnow
from storage.models import Base, OrderLine
from tests.conftest import make_settings
from worker import publish
from worker.runtime import Runtime


def test_tastes_are_what_neighbours_bought():
    pairs = [("1", "A"), ("1", "B"), ("2", "B"), ("2", "C"), ("3", "D")]
    assert tastes(pairs) == {"1": {"C"}, "2": {"A"}, "3": set()}


def test_simulated_week(tmp_path, r):
    rt = Runtime.from_settings(make_settings(tmp_path))
    Base.metadata.create_all(rt.engine)
    events = []
    for c in range(1, 61):  # two taste groups: even customers buy E-*, odd ones O-*
        group = "E" if c % 2 == 0 else "O"
        at = (utcnow() - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
        events.append({"event_id": f"e{c}", "order": {
            "entity_id": c, "increment_id": str(c), "customer_id": c,
            "customer_email": f"{c}@x.example", "state": "processing", "created_at": at,
            "updated_at": at, "items": [
                {"item_id": k + 1, "sku": f"{group}-{(c + k) % 8}", "qty_ordered": 1,
                 "price": 10, "row_total": 10} for k in range(3)]}})
    ingest(rt.engine, [json.dumps(e) for e in events], rt.policy)
    # DMF-like lists: the customer's group; popular: the other SKUs.
    publish.publish_user_lists(r, "v1", {str(c): [(f"{'EO'[c % 2]}-{k}", 1.0) for k in range(8)]
                                         for c in range(1, 61)})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [(f"X-{k}", 1.0) for k in range(5)])
    for c in range(1, 61):  # what the live loop writes after each order (demo: the worker)
        group = "E" if c % 2 == 0 else "O"
        publish.set_bought(r, str(c), [f"{group}-{(c + k) % 8}" for k in range(3)])
    week = simulate_week(rt, "secret-for-tests-0123456789abcdef")
    with rt.reading() as session:
        clicks = session.scalar(select(func.count()).select_from(RecEvent)
                                .where(RecEvent.kind == "click"))
        credited = session.scalar(select(func.sum(AttributedLine.amount)))
        sold = session.scalar(select(func.sum(OrderLine.amount))
                              .where(OrderLine.order_id >= 900_000_000))
        shown = dict(session.execute(select(RecEvent.arm, func.count()).where(
            RecEvent.kind == "impression").group_by(RecEvent.arm)).all())
        magento = set(session.scalars(select(RecEvent.sku).where(RecEvent.arm == "magento")))
    assert clicks > 0 and week["orders"] > 0
    assert credited == sold  # every simulated order came from a click
    assert set(shown) == {"dmf", "popular", "magento"} and min(shown.values()) > 100
    # Magento's stand-in links of what was bought (neighbours in SKU order), not popular SKUs.
    assert magento and not any(s.startswith("X-") for s in magento)
    arms = {a["arm"]: a for a in report(rt.engine, week["experiment"])["arms"]}
    assert week["winner"] == max(arms, key=lambda a: arms[a]["revenue_per_visitor"])
    assert arms["popular"]["revenue_per_visitor"] < min(
        arms[a]["revenue_per_visitor"] for a in ("dmf", "magento"))
    assert experiments.read_config(r) == {"name": week["experiment"], "status": "stopped",
                                          "winner": week["winner"]}
    rt.engine.dispose()
