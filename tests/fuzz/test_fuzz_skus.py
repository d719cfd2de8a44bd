"""Hostile SKUs inside otherwise valid, signed order events, over real HTTP (gunicorn, MariaDB
utf8mb4_bin, Redis): SQL-looking, very long and non-ASCII SKUs are either stored verbatim (the
order line, the interaction and the product row, then the storefront lists) or rejected with a
400 naming ``order.items.0.sku``, never anything else.

The policy (storage/snapshot.py): surrounding whitespace is stripped, then 1..64 characters,
no Unicode category C (controls, format characters such as ZWJ or RTL overrides, surrogates,
private use, unassigned); everything else is kept as sent, without normalisation.
"""

from __future__ import annotations

import json
import unicodedata
from urllib.parse import quote

import pytest
from fuzz_support import CASES, FUZZ, SECRET, valid_event
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import ingestion
from storage.models import Event, Interaction, OrderLine, Product
from webhook import signing
from worker import live as worker_live
from worker import publish

MODULE = "skus"
MIN_CASES = 800
N_GENERATED = 800
MAGENTO = "/v1/webhooks/magento/orders"
STORED, REJECTED = "stored", "rejected"

# name -> (SKU as sent, expected outcome, stored SKU or a fragment of the 400's message)
SKUS: dict[str, tuple[str, str, str]] = {
    "sql drop": ("'; DROP TABLE orders;--", STORED, "'; DROP TABLE orders;--"),
    "sql or": ("1' OR '1'='1", STORED, "1' OR '1'='1"),
    "sql comment": ("x\"); DELETE FROM interactions; /*", STORED,
                    "x\"); DELETE FROM interactions; /*"),
    "like wildcards": ("%_%\\", STORED, "%_%\\"),
    "html": ("<script>alert(1)</script>", STORED, "<script>alert(1)</script>"),
    "json-ish": ('{"sku": null}', STORED, '{"sku": null}'),
    "64 chars": ("S" * 64, STORED, "S" * 64),
    "65 chars": ("S" * 65, REJECTED, "at most 64 allowed"),
    "10k chars": ("A" * 10_000, REJECTED, "at most 200 characters"),
    "64 emoji": ("😀" * 64, STORED, "😀" * 64),  # 256 bytes in utf8mb4, 64 characters
    "emoji": ("👟-RUN-🏃", STORED, "👟-RUN-🏃"),
    "zwj emoji": ("👨\u200d👩\u200d👧", REJECTED, "U+200D"),
    "arabic": ("حذاء-٤٢", STORED, "حذاء-٤٢"),
    "hebrew": ("נעל-7", STORED, "נעל-7"),
    "rtl override": ("\u202eKCIS", REJECTED, "U+202E"),
    "rtl mark": ("SKU\u200f", REJECTED, "U+200F"),
    "nul": ("SKU\x00A", REJECTED, "U+0000"),
    "newline": ("A\nB", REJECTED, "U+000A"),
    "combining": ("e\u0301", STORED, "e\u0301"),  # not normalised to U+00E9
    "precomposed": ("\u00e9", STORED, "\u00e9"),  # distinct from "combining"
    "zalgo": ("Z\u0324\u0354\u0367a\u0308\u0356", STORED, "Z\u0324\u0354\u0367a\u0308\u0356"),
    "cjk": ("靴-赤-27cm", STORED, "靴-赤-27cm"),
    "case": ("sku-a", STORED, "sku-a"),  # distinct from SKU-A (binary collation)
    "padded": ("  SKU-B\u3000 ", STORED, "SKU-B"),
    "blank": (" \t ", REJECTED, "SKU is empty"),
    # JSON's "\ud800" escape: pydantic's parser refuses the whole body, naming no field.
    "lone surrogate": ("A\ud800", REJECTED, "Invalid JSON"),
    "private use": ("\ue000", REJECTED, "U+E000"),
    "noncharacter": ("A\uffff", REJECTED, "U+FFFF"),
    "slash": ("A/B", STORED, "A/B"),
    "dots": ("..", STORED, ".."),
    "null word": ("NULL", STORED, "NULL"),
}
accepted: dict[str, tuple[str, str]] = {}  # name -> (event_id, stored SKU)
generated: dict[str, str] = {}  # event_id -> stored SKU, from the hypothesis test


def _post(live, sku: str, customer_id: int = 42):
    event = valid_event(sku=sku, customer_id=customer_id)
    raw = json.dumps(event).encode()  # ensure_ascii: the SKU travels as JSON escapes
    headers = {"Content-Type": "application/json", **signing.signed_headers(SECRET, raw)}
    return event["event_id"], live.session.post(live.base + MAGENTO, data=raw, headers=headers,
                                                timeout=10)


@pytest.mark.parametrize("name", list(SKUS))
def test_sku_is_accepted_or_rejected_by_name(live, world, name):
    sku, outcome, detail = SKUS[name]
    before = world.state()
    event_id, response = _post(live, sku)
    CASES[MODULE] += 1
    assert response.status_code < 500
    if outcome == REJECTED:
        assert response.status_code == 400, response.text
        body = response.json()
        field = "(body)" if name == "lone surrogate" else "order.items.0.sku"
        assert body["error"] == f"invalid order snapshot: {field}"
        assert [f["field"] for f in body["fields"]] == [field]
        assert detail in body["fields"][0]["message"]
        assert world.state() == before
    else:
        assert response.status_code == 202, response.text
        accepted[name] = (event_id, detail)


def test_stored_skus_are_verbatim_in_database_and_lists(live, world):
    assert accepted, "run with the parametrized test above"
    ids = {eid: sku for eid, sku in accepted.values()}
    outcomes = ingestion.process(world.settings.database_url, list(ids))
    assert set(outcomes.values()) == {"applied"}
    expected = set(ids.values())
    with world.engine.connect() as conn:
        lines = set(conn.scalars(select(OrderLine.sku)))
        pairs = set(conn.execute(select(Interaction.customer_key, Interaction.sku)))
        products = set(conn.scalars(select(Product.sku)))
    assert expected <= lines and expected <= products
    assert {("42", s) for s in expected} <= pairs
    assert len({"e\u0301", "\u00e9", "sku-a"} & lines) == 3  # no normalisation, no case folding

    # The storefront serves them back byte for byte (popular list, then each SKU's page).
    with Session(world.engine) as session:
        publish.publish_popular(world.redis, worker_live.popular_pairs(
            session, window_days=92, n=50))
    popular = live.session.get(live.base + "/v1/popular", params={"limit": 50}, timeout=10)
    assert popular.status_code == 200
    assert expected <= {item["sku"] for item in popular.json()["items"]}
    for sku in sorted(expected):
        path = quote(sku, safe="").replace(".", "%2E")  # clients drop "." and ".." segments
        response = live.session.get(f"{live.base}/v1/items/{path}/similar", timeout=10)
        if "/" in sku:  # %2F is decoded before routing: Flask's <sku> never matches a slash
            assert response.status_code == 404
            continue
        assert response.status_code == 200, (sku, response.text)
        assert response.json()["sku"] == sku
        assert sku not in {item["sku"] for item in response.json()["items"]}


sku_text = st.one_of(
    st.text(max_size=80),
    st.text(st.characters(codec="utf-8"), min_size=60, max_size=70),
    st.lists(st.sampled_from([*"'\";-%_\\/ *=()", "DROP", "TABLE", "--", "\u200d", "\u202e",
                              "\x00", "😀", "\u0301"]), max_size=12).map("".join),
    st.integers(0, 12_000).map(lambda n: "B" * n),
)


def _verdict(sku: str) -> str | None:
    """The stored SKU, or None when the policy rejects it (the oracle)."""
    value = sku.strip()
    if len(sku) > 200 or not value or len(value) > 64:
        return None
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        return None
    return value


@settings(FUZZ, max_examples=N_GENERATED)
@given(sku=sku_text)
def test_generated_skus(live, world, sku):
    before = world.before()
    event_id, response = _post(live, sku, customer_id=7)
    CASES[MODULE] += 1
    world.last = world.state()
    stored = _verdict(sku)
    if stored is None:
        assert response.status_code == 400, (sku, response.text)
        assert [f["field"] for f in response.json()["fields"]] == ["order.items.0.sku"]
        assert world.last == before
    else:
        assert response.status_code == 202, (sku, response.text)
        generated[event_id] = stored


def test_generated_skus_are_stored_verbatim(world):
    assert generated, "run with test_generated_skus"
    outcomes = ingestion.process(world.settings.database_url, list(generated))
    assert set(outcomes.values()) == {"applied"}
    with world.engine.connect() as conn:
        rows = conn.execute(select(OrderLine.order_id, OrderLine.sku)).all()
    by_order = dict(rows)
    payloads = {eid: json.loads(p) for eid, p in _payloads(world, list(generated)).items()}
    for event_id, sku in generated.items():
        assert by_order[payloads[event_id]["order"]["entity_id"]] == sku


def _payloads(world, event_ids: list[str]) -> dict[str, str]:
    with world.engine.connect() as conn:
        return dict(conn.execute(select(Event.event_id, Event.payload)
                                 .where(Event.event_id.in_(event_ids))).all())


def test_module_ran_its_share_of_cases() -> None:
    assert CASES[MODULE] >= MIN_CASES, CASES
