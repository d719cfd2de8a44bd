"""Property: whatever the delivery order and repeats, interactions equal the direct aggregation
of each order's newest snapshot (on MariaDB and on SQLite)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from storage_dbs import clean
from storage_oracle import expected_pairs, normalise, stored_pairs

from storage.ingestion import Policy, ingest
from storage.models import OrderLine
from storage.training_data import load_interactions

CUSTOMERS = [  # (customer_id, email, is_guest)
    (1, "one@example.com", False),
    (2, "two@example.com", False),
    (None, "Guest@Example.com", True),
    (None, "guest@example.com ", True),  # the same guest, written differently
    (None, None, True),  # a guest without email: never counted
]
SKUS = ["A", "a", "\u00c9-1", "E\u0301-1", "\U0001f37a beer", "\u9577\u3044", "Z" * 64]
QTYS = [Decimal(1), Decimal(2), Decimal(3), Decimal(5), Decimal("1.5")]
PRICES = [Decimal(0), Decimal("1.25"), Decimal("9.99"), Decimal(100)]
START = datetime(2024, 1, 1, 9, 0, 0)


@st.composite
def histories(draw, entity_id: int) -> list[dict]:
    """Snapshots of one order: placed, then invoice / cancel / refund / hold ... steps."""
    cid, email, guest = draw(st.sampled_from(CUSTOMERS))
    products = []  # each: {lines: [item dicts], main: the line quantities are kept on}
    next_id = entity_id * 100
    for _ in range(draw(st.integers(1, 3))):
        qty, price = draw(st.sampled_from(QTYS)), draw(st.sampled_from(PRICES))
        sku = draw(st.sampled_from(SKUS))
        next_id += 1
        if draw(st.booleans()):  # configurable: parent carries price, child price 0
            parent = {"item_id": next_id, "sku": draw(st.sampled_from(SKUS)),
                      "product_type": "configurable", "qty_ordered": qty, "price": price,
                      "row_total": qty * price}
            next_id += 1
            child = {"item_id": next_id, "parent_item_id": parent["item_id"], "sku": sku,
                     "product_type": "simple", "qty_ordered": qty, "price": Decimal(0),
                     "row_total": Decimal(0)}
            products.append({"lines": [parent, child], "mirror": draw(st.booleans())})
        else:
            products.append({"lines": [{"item_id": next_id, "sku": sku, "product_type": "simple",
                                        "qty_ordered": qty, "price": price,
                                        "row_total": qty * price}], "mirror": False})
    created = START + timedelta(days=draw(st.integers(0, 60)), seconds=draw(st.integers(0, 9)))
    state = draw(st.sampled_from(["new", "pending_payment", "processing", "payment_review"]))
    done = {id(p): {"inv": Decimal(0), "can": Decimal(0), "ref": Decimal(0)} for p in products}
    updated = created
    customer = {"customer_id": cid, "customer_email": email, "customer_is_guest": guest}

    def snapshot() -> dict:
        items = []
        for p in products:
            q = done[id(p)]
            for k, line in enumerate(p["lines"]):
                on_line = k == 0 or p["mirror"]
                items.append(line | {
                    "qty_invoiced": q["inv"] if on_line else Decimal(0),
                    "qty_canceled": q["can"] if on_line else Decimal(0),
                    "qty_refunded": q["ref"] if on_line else Decimal(0),
                })
        body = {"entity_id": entity_id, "increment_id": f"1{entity_id:08d}", "store_id": 1,
                "state": state, "status": state, "created_at": created.isoformat(" "),
                "updated_at": updated.isoformat(" "), "currency": "EUR", "items": items}
        return body | customer

    def progress() -> Decimal:
        return sum((sum(q.values()) for q in done.values()), Decimal(0))

    snaps = [snapshot()]
    for _ in range(draw(st.integers(0, 5))):
        before = progress()
        action = draw(st.sampled_from(
            ["invoice", "cancel", "refund", "refund_all", "hold", "unhold", "complete",
             "delete_customer"]))
        for p in products:
            q, ordered = done[id(p)], p["lines"][0]["qty_ordered"]
            open_qty = ordered - q["inv"] - q["can"]
            if action == "invoice":
                q["inv"] += open_qty
            elif action == "cancel" and open_qty > 0:
                q["can"] += draw(st.sampled_from([open_qty, min(open_qty, Decimal(1))]))
            elif action in ("refund", "refund_all"):
                left = q["inv"] - q["ref"]
                q["ref"] += left if action == "refund_all" else min(left, Decimal(1))
        if action == "delete_customer" and customer["customer_id"] is not None:
            customer = customer | {"customer_id": None}
        if all(done[id(p)]["can"] == p["lines"][0]["qty_ordered"] for p in products):
            state = "canceled"
        elif all(done[id(p)]["can"] + done[id(p)]["ref"] == p["lines"][0]["qty_ordered"]
                 for p in products):
            state = "closed"
        else:
            state = {"hold": "holded", "unhold": "processing", "complete": "complete"}.get(
                action, "processing" if action in ("invoice", "refund") else state)
        # Same-second saves only when progress grows: the order key must strictly increase.
        step = draw(st.sampled_from([0, 1, 3600]) if progress() > before
                    else st.sampled_from([1, 3600]))
        updated = updated + timedelta(seconds=step)
        snaps.append(snapshot())
    return snaps


@st.composite
def scenarios(draw):
    n_orders = draw(st.integers(1, 4))
    orders = [draw(histories(entity_id=k + 1)) for k in range(n_orders)]
    all_snaps = [(o, s) for o in range(n_orders) for s in range(len(orders[o]))]
    extra = draw(st.lists(st.sampled_from(all_snaps), max_size=6))
    deliveries = draw(st.permutations(all_snaps + extra))
    # A repeat is sent with the same event id (a redelivery) or a new one (a resend).
    fresh_ids = draw(st.lists(st.booleans(), min_size=len(deliveries),
                              max_size=len(deliveries)))
    sizes = draw(st.lists(st.integers(1, 3), min_size=len(deliveries),
                          max_size=len(deliveries)))
    policy = Policy(sku_level=draw(st.sampled_from(["simple", "parent"])),
                    guest_policy=draw(st.sampled_from(["hash", "skip"])))
    return orders, deliveries, fresh_ids, sizes, policy


def _json(body: dict) -> dict:
    def conv(v):
        if isinstance(v, Decimal):
            return str(v)
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v
    return conv(body)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=scenarios())
def test_interactions_equal_newest_snapshots(engine, data):
    orders, deliveries, fresh_ids, sizes, policy = data
    clean(engine)
    newest: dict[int, int] = {}
    seen: set[tuple[int, int]] = set()
    pos = 0
    k = 0
    while pos < len(deliveries):
        batch = deliveries[pos : pos + sizes[k]]
        events = []
        for o, s in batch:
            repeat = (o, s) in seen
            # Ids that do not sort in history order.
            eid = f"{(s * 7 + o * 3) % 5}-o{o}-s{s}"
            if repeat and fresh_ids[pos]:
                eid += f"-r{pos}"
            events.append({"event_id": eid, "order": _json(orders[o][s])})
            seen.add((o, s))
            newest[o] = max(newest.get(o, s), s)
        pos += len(batch)
        k += 1
        ingest(engine, events, policy)
        want = expected_pairs([_json(orders[o][s]) for o, s in newest.items()], policy)
        assert normalise(stored_pairs(engine)) == normalise(want)
    # The lines are those of the newest snapshots, and training input agrees with the table.
    with engine.connect() as conn:
        n_lines = conn.execute(select(func.count()).select_from(OrderLine.__table__)).scalar()
    assert n_lines == sum(len(orders[o][s]["items"]) for o, s in newest.items())
    matrix = load_interactions(engine, window_days=0, value="quantity", policy=policy)
    pairs = stored_pairs(engine)
    assert matrix.nnz == len(pairs)
    for (key, sku), (qty, *_rest) in pairs.items():
        u, i = matrix.user_index(key), matrix.item_index(sku)
        assert np.isclose(matrix.matrix[u, i], float(qty))
