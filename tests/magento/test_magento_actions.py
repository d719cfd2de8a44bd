"""Which Magento actions produce which snapshots, table-driven.

Each row is an action in the Magento admin or storefront, the events Magento dispatches for it
(read from Magento 2.4.6's own code paths: the service saves the order inside its transaction,
and `sales_order_save_commit_after` fires once that commits), and the order's rows afterwards.
In Magento 2.4.6: OrderService::place, ::cancel and ::hold end in OrderRepository::save;
CreditmemoService::refund saves the credit memo and then the order in one transaction;
invoicing and shipping save the order in the same DB transaction as the invoice or shipment.
The module observes only the commit event, so a step with no commit sends nothing; a step that
commits sends the snapshot the module's PHP builds from those rows, which dmfrec ingests. The
table states what each customer x SKU then counts for, and whether the step was a new event.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

from sqlalchemy import create_engine, select

from storage.ingestion import Policy, ingest
from storage.models import Base, Interaction

HERE = Path(__file__).parent
EVENTS_XML = HERE.parents[1] / "magento-module/Dmfrec/Recommendations/etc/events.xml"
COMMIT = "sales_order_save_commit_after"

ORDER = {"entity_id": 9001, "increment_id": "000009001", "store_id": 1, "customer_id": 42,
         "customer_email": "anna@example.com", "customer_is_guest": 0, "state": "new",
         "status": "pending", "created_at": "2026-11-30 09:00:00",
         "updated_at": "2026-11-30 09:00:00", "order_currency_code": "EUR",
         "base_currency_code": "EUR"}
ITEMS = [
    {"item_id": 1, "sku": "A", "product_type": "simple", "qty_ordered": "2.0000", "price": "10",
     "row_total": "20", "base_row_total": "20"},
    {"item_id": 2, "sku": "B", "product_type": "simple", "qty_ordered": "1.0000", "price": "5",
     "row_total": "5", "base_row_total": "5"},
]


def _set(state: str, at: str, **qty: dict[int, str]):
    """The order's rows after a step: new state and updated_at, item quantity columns."""
    def change(order: dict, items: list[dict]) -> None:
        order.update(state=state, status=state, updated_at=at)
        for column, per_item in qty.items():
            for item in items:
                if item["item_id"] in per_item:
                    item[column] = per_item[item["item_id"]]
    return change


# action, events Magento dispatches (in order), rows after it, counted {sku: qty}, new event?
ACTIONS = [
    ("place order (checkout)", ["sales_order_place_after", COMMIT],
     _set("new", "2026-11-30 09:00:00"), {"A": 2, "B": 1}, True),
    ("invoice (capture)", ["sales_order_invoice_register", COMMIT],
     _set("processing", "2026-11-30 09:05:00", qty_invoiced={1: "2", 2: "1"}),
     {"A": 2, "B": 1}, True),
    ("cron resends the same snapshot", [],
     None, {"A": 2, "B": 1}, False),
    ("hold", ["sales_order_save_after", COMMIT],
     _set("holded", "2026-11-30 09:06:00"), {}, True),
    ("unhold", ["sales_order_save_after", COMMIT],
     _set("processing", "2026-11-30 09:07:00"), {"A": 2, "B": 1}, True),
    ("ship", ["sales_order_shipment_save_after", COMMIT],
     _set("complete", "2026-11-30 10:00:00"), {"A": 2, "B": 1}, True),
    ("credit memo: 1 x A", ["sales_order_creditmemo_save_after", COMMIT],
     _set("complete", "2026-12-01 08:00:00", qty_refunded={1: "1"}), {"A": 1, "B": 1}, True),
    ("cancel that fails and rolls back", ["order_cancel_after"],
     None, {"A": 1, "B": 1}, None),
    ("credit memo: the rest (order closed)", ["sales_order_creditmemo_save_after", COMMIT],
     _set("closed", "2026-12-01 09:00:00", qty_refunded={1: "2", 2: "1"}), {}, True),
]


def _snapshots(php: str, tmp_path: Path, rows: list[dict]) -> list[dict]:
    source = tmp_path / "rows.json"
    source.write_text(json.dumps(rows))
    done = subprocess.run([php, str(HERE / "snapshot.php"), str(source)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def test_only_commit_events_are_observed():
    observed = {e.get("name") for e in ElementTree.parse(EVENTS_XML).getroot().iter("event")}
    dispatched = {name for _, events, *_ in ACTIONS for name in events}
    assert observed & dispatched == {COMMIT}


def test_each_action_produces_the_tabled_snapshot(tmp_path):
    php = shutil.which("php")
    assert php, "Debian's php-cli is needed (.ci/run installs it)"
    order, items = copy.deepcopy(ORDER), copy.deepcopy(ITEMS)
    rows, sends = [], []
    for _, events, change, *_ in ACTIONS:
        if change is not None:
            change(order, items)
        commits = COMMIT in events or (change is None and not events)  # a resend: last rows
        sends.append(commits)
        rows.append({"order": copy.deepcopy(order), "items": copy.deepcopy(items),
                     "website_id": 1})
    snapshots = _snapshots(php, tmp_path, rows)

    engine = create_engine(f"sqlite:///{tmp_path / 'dmfrec.db'}")
    Base.metadata.create_all(engine)
    seen: set[str] = set()
    for (action, _, _, counted, new_event), snapshot, sends_now in zip(
            ACTIONS, snapshots, sends, strict=True):
        if sends_now:
            outcome = ingest(engine, [snapshot], Policy())[snapshot["event_id"]]
            assert (outcome != "duplicate") is new_event, action
            assert (snapshot["event_id"] not in seen) is new_event, action
            seen.add(snapshot["event_id"])
        else:
            assert new_event is None, action  # nothing committed, nothing sent
        with engine.connect() as conn:
            got = {r.sku: r.qty for r in conn.execute(
                select(Interaction.sku, Interaction.qty).where(Interaction.customer_key == "42"))}
        assert got == {sku: Decimal(q) for sku, q in counted.items()}, action
    engine.dispose()
