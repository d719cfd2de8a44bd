"""Test helpers: order snapshots built by hand, and the expected interactions computed directly
from each order's newest snapshot (written independently of storage.ingestion)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine, select

from storage.ingestion import Policy, guest_key
from storage.models import Interaction

D0 = Decimal(0)


def item(item_id: int, sku: str, qty: float | str, price: float | str = 0, **kw) -> dict:
    qty_d, price_d = Decimal(str(qty)), Decimal(str(price))
    return {"item_id": item_id, "sku": sku, "qty_ordered": str(qty_d), "price": str(price_d),
            "row_total": str(qty_d * price_d), "product_type": "simple"} | kw


def order(entity_id: int, items: list[dict], *, customer_id: int | None = 1,
          email: str | None = "c@example.com", guest: bool = False, state: str = "processing",
          created: str = "2024-01-10 10:00:00", updated: str | None = None) -> dict:
    return {"entity_id": entity_id, "increment_id": f"{entity_id:09d}", "store_id": 1,
            "customer_id": customer_id, "customer_email": email, "customer_is_guest": guest,
            "state": state, "status": state, "created_at": created,
            "updated_at": updated or created, "currency": "EUR", "items": items}


def event(event_id: str, order_body: dict, **kw) -> dict:
    return {"event_id": event_id, "order": order_body} | kw


def _dec(v: Any) -> Decimal:
    return Decimal(str(v if v is not None else 0))


def _key(o: dict, policy: Policy) -> str | None:
    if o.get("customer_id") is not None and not o.get("customer_is_guest"):
        return str(o["customer_id"])
    if policy.guest_policy == "skip":
        return None
    email = (o.get("customer_email") or "").strip()
    return guest_key(email, policy.guest_salt) if email else None


def expected_pairs(orders: list[dict], policy: Policy) -> dict[tuple[str, str], tuple]:
    """(customer_key, sku) -> (qty, amount, order_count, first, last) from snapshots as sent."""
    acc: dict[tuple[str, str], list] = defaultdict(lambda: [D0, D0, set(), []])
    for o in orders:
        key = _key(o, policy)
        if key is None or o["state"] in policy.uncounted_states:
            continue
        items = {i["item_id"]: i for i in o["items"]}
        has_child = {i.get("parent_item_id") for i in o["items"]}
        created = datetime.fromisoformat(o["created_at"])
        for i in o["items"]:
            parent = items.get(i.get("parent_item_id"))
            counted = (i["item_id"] not in has_child) if policy.sku_level == "simple" \
                else parent is None
            if not counted:
                continue
            ordered = _dec(i["qty_ordered"])
            canceled, refunded = _dec(i.get("qty_canceled")), _dec(i.get("qty_refunded"))
            row_total = _dec(i.get("row_total"))
            if parent is not None:
                ratio = ordered / _dec(parent["qty_ordered"])
                canceled = max(canceled, _dec(parent.get("qty_canceled")) * ratio)
                refunded = max(refunded, _dec(parent.get("qty_refunded")) * ratio)
                if parent.get("product_type") == "configurable" and row_total == 0:
                    row_total = _dec(parent.get("row_total")) * ratio
            eff = max(D0, ordered - canceled - refunded)
            if eff <= 0:
                continue
            amount = (row_total * eff / ordered).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            a = acc[(key, i["sku"].strip())]
            a[0] += eff
            a[1] += amount
            a[2].add(o["entity_id"])
            a[3].append(created)
    return {k: (v[0], v[1], len(v[2]), min(v[3]), max(v[3])) for k, v in acc.items()}


def stored_pairs(engine: Engine) -> dict[tuple[str, str], tuple]:
    t = Interaction.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t)).all()
    return {
        (r.customer_key, r.sku): (
            Decimal(r.qty), Decimal(r.amount), r.order_count, r.first_purchase_at,
            r.last_purchase_at,
        )
        for r in rows
    }


def normalise(pairs: dict) -> dict:
    """Quantities/amounts to 4 places (SQLite stores NUMERIC as binary floats)."""
    q = Decimal("0.0001")
    return {k: (v[0].quantize(q), v[1].quantize(q), *v[2:]) for k, v in pairs.items()}

