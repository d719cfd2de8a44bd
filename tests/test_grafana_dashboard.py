"""The Grafana dashboard in deploy/grafana queries only metrics the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import webhook.metrics  # noqa: F401  (registers the web service's metrics)
import worker.metrics  # noqa: F401  (registers the workers' metrics)
from worker import backlog

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dmfrec.json"
# Names that backlog collectors yield at scrape time (they need a database or broker).
SCRAPE_TIME = {"dmfrec_events", "dmfrec_events_count_up", "dmfrec_queue_depth",
               "dmfrec_queue_unacked", "dmfrec_queue_depth_up"}


def test_every_dashboard_query_names_an_exported_metric():
    from prometheus_client import REGISTRY

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    exported = {family.name + suffix for family in REGISTRY.collect()
                for suffix in suffixes.get(family.type, [""])}
    exported |= SCRAPE_TIME
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bdmfrec_[a-z_]+", target["expr"])}
    assert queried - exported == set()
    for needed in ("dmfrec_queue_depth", "dmfrec_events", "dmfrec_worker_apply_seconds_bucket",
                   "dmfrec_worker_fold_in_seconds_bucket", "dmfrec_webhook_events_total",
                   "dmfrec_storefront_lists_total", "dmfrec_worker_batch_events_bucket",
                   "dmfrec_worker_customer_refreshes_total"):
        assert needed in queried
    assert backlog.EventCounts and backlog.QueueDepth  # the scrape-time names come from here
