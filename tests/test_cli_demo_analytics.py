"""The demo's simulated analytics week: impressions and clicks recorded, the week's real
orders attributed by the live code, the experiment stopped with DMF serving everybody."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from cli.demo_analytics import simulate_week
from storage import experiments
from storage.analytics_models import AttributedLine, RecEvent
from storage.ingestion import ingest, utcnow
from storage.models import Base
from tests.conftest import make_settings
from worker import publish
from worker.runtime import Runtime


def test_simulated_week(tmp_path, r):
    rt = Runtime.from_settings(make_settings(tmp_path))
    Base.metadata.create_all(rt.engine)
    events = []
    for c in range(1, 41):
        at = (utcnow() - timedelta(days=c % 6, hours=2)).strftime("%Y-%m-%d %H:%M:%S")
        events.append({"event_id": f"e{c}", "order": {
            "entity_id": c, "increment_id": str(c), "customer_id": c,
            "customer_email": f"{c}@x.example", "state": "processing", "created_at": at,
            "updated_at": at, "items": [{"item_id": c, "sku": f"SKU-{c % 5}", "qty_ordered": 1,
                                         "price": 10, "row_total": 10}]}})
    ingest(rt.engine, [json.dumps(e) for e in events], rt.policy)
    publish.publish_user_lists(r, "v1", {str(c): [(f"SKU-{c % 5}", 1.0), ("SKU-9", 0.5)]
                                         for c in range(1, 41)})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [("SKU-8", 3.0), ("SKU-9", 2.0)])
    week = simulate_week(rt, "secret-for-tests-0123456789abcdef")
    assert week["orders"] == 40 and week["visits"] == 40  # nobody idle in this shop
    with rt.reading() as session:
        clicks = session.scalar(select(func.count()).select_from(RecEvent)
                                .where(RecEvent.kind == "click"))
        credited = session.execute(select(AttributedLine.arm, func.count())
                                   .group_by(AttributedLine.arm)).all()
    assert clicks > 0 and week["credited_lines"] == sum(n for _, n in credited) > 0
    assert {arm for arm, _ in credited} == {"dmf"}  # only DMF lists held what they bought
    assert experiments.read_config(r)["winner"] == "dmf"
    rt.engine.dispose()
