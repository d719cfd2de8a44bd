"""The snapshot event schema: errors name the field; documented decisions on odd input."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from decimal import Decimal

import pytest
from storage_oracle import event, item, order

from storage.snapshot import SnapshotError, parse_event

BASE = event("e1", order(1, [item(1, "SKU-1", 2, "9.99")]))


def broken(mutate) -> str:
    body = copy.deepcopy(BASE)
    mutate(body)
    with pytest.raises(SnapshotError) as err:
        parse_event(json.dumps(body))
    return str(err.value)


def _set(path: list, value):
    def mutate(body):
        target = body
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return mutate


ITEM = ["order", "items", 0]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["event_id"], KeyError, "event_id: Field required"),
        (["order", "entity_id"], KeyError, "order.entity_id: Field required"),
        (["order", "entity_id"], 0, "order.entity_id: Input should be greater than 0"),
        ([*ITEM, "item_id"], KeyError, "order.items.0.item_id: Field required"),
        ([*ITEM, "qty_ordered"], -1, "order.items.0.qty_ordered: Input should be greater"),
        ([*ITEM, "qty_refunded"], "lots", "order.items.0.qty_refunded: Input should be a valid"),
        ([*ITEM, "qty_canceled"], True, "order.items.0.qty_canceled: a number is required"),
        ([*ITEM, "qty_refunded"], 3, "exceeds qty_ordered"),
        ([*ITEM, "price"], -0.01, "order.items.0.price: Input should be greater"),
        (["order", "state"], "shipped", "order.state: Input should be 'new'"),
        ([*ITEM, "sku"], "A\x07B", "order.items.0.sku: control or unassigned character U+0007"),
        ([*ITEM, "sku"], "A\u200bB", "order.items.0.sku: control or unassigned character"),
        ([*ITEM, "sku"], "   ", "order.items.0.sku: SKU is empty"),
        ([*ITEM, "sku"], "x" * 65, "SKU has 65 characters, at most 64"),
        ([*ITEM, "parent_item_id"], 99, "99 is not a top-level item"),
        (["order", "items"], [], "order.items: List should have at least 1 item"),
        (["order", "updated_at"], "yesterday", "order.updated_at: Input should be a valid"),
    ],
)
def test_rejections_name_the_field(path, value, message):
    assert message in broken(_set(path, value))


def test_non_finite_and_bad_json():
    body = json.dumps(BASE).replace('"qty_ordered": "2"', '"qty_ordered": NaN')
    with pytest.raises(SnapshotError, match="qty_ordered: Input should be a finite number"):
        parse_event(body)
    with pytest.raises(SnapshotError, match="Invalid JSON"):
        parse_event(b"{not json")


def test_accepted_forms_are_normalised():
    body = copy.deepcopy(BASE)
    body["order"]["updated_at"] = "2024-01-10T12:00:00+02:00"
    body["order"]["items"][0] |= {"sku": "  \U0001f37a Bier Gro\u00dfe  ", "qty_ordered": 1.23456,
                                  "price": "9.99", "extra": "ignored"}
    ev = parse_event(json.dumps(body).encode())
    line = ev.order.items[0]
    assert line.sku == "\U0001f37a Bier Gro\u00dfe"  # trimmed, otherwise verbatim
    assert line.qty_ordered == Decimal("1.2346")  # Magento's 4 decimals, half up
    assert ev.order.updated_at == datetime(2024, 1, 10, 10, 0)  # UTC, naive
    assert ev.products == []
