"""Product states from the Magento module: signed, validated, newest per SKU, and applied to
the storefront lists within the same delivery; `?website=` keeps one website's products."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from storage.models import Product
from webhook import services, signing
from worker import publish


@pytest.fixture
def lists(r):
    publish.publish_user_lists(r, "v1", {"42": [("A", 0.9), ("B", 0.8), ("C", 0.7), ("D", 0.6)]})
    publish.publish_similar(r, "v1", {"A": [("B", 0.9), ("C", 0.8), ("D", 0.7)]})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [("A", 30), ("B", 20), ("C", 10), ("D", 5)])
    return r


@pytest.fixture
def post_states(client, secrets):
    def post(products: list[dict], *, at: str = "2026-12-01T10:00:00.000000Z",
             event_id: str = "products-1", secret: str | None = None,
             headers: dict | None = None):
        secret = secret or secrets["current"]
        raw = json.dumps({"event_id": event_id, "occurred_at": at, "products": products}).encode()
        if headers is None:
            headers = signing.signed_headers(secret, raw)
        return client.post("/v1/webhooks/magento/products", data=raw, headers=headers,
                           content_type="application/json")

    return post


def skus(client, path: str, **headers) -> list[str]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [i["sku"] for i in response.get_json()["items"]]


def state(sku: str, enabled=True, visible=True, in_stock=True, websites=(1,)) -> dict:
    return {"sku": sku, "enabled": enabled, "visible": visible, "in_stock": in_stock,
            "website_ids": list(websites)}


def test_hidden_skus_leave_every_list_within_the_delivery(client, lists, post_states, token):
    response = post_states([state("B", enabled=False), state("C", visible=False),
                            state("D", in_stock=False), state("A")])
    assert response.status_code == 200
    assert response.get_json() == {"status": "applied", "event_id": "products-1",
                                   "hidden": 3, "shown": 1}
    assert skus(client, "/v1/popular") == ["A"]
    assert skus(client, "/v1/items/A/similar") == []
    assert skus(client, "/v1/customers/42/recommendations",
                Authorization=f"Bearer {token(42)}") == ["A"]
    # Back in stock and enabled again (a newer state): shown again.
    post_states([state("B"), state("D")], at="2026-12-01T10:00:01Z", event_id="products-2")
    assert skus(client, "/v1/popular") == ["A", "B", "D"]


def test_an_older_state_changes_nothing_and_a_deleted_sku_is_hidden(app, client, lists,
                                                                    post_states):
    post_states([state("B", enabled=False)], at="2026-12-01T10:00:05Z")
    response = post_states([state("B")], at="2026-12-01T10:00:04Z", event_id="products-old")
    assert response.get_json()["hidden"] == 1  # the stored (newer) state stands
    assert "B" not in skus(client, "/v1/popular")
    post_states([{"sku": "C", "deleted": True}], at="2026-12-01T10:00:06Z", event_id="p-3")
    assert skus(client, "/v1/popular") == ["A", "D"]
    with app.app_context(), services.engine().connect() as conn:
        rows = {r.sku: r for r in conn.execute(select(Product))}
    assert (rows["B"].enabled, rows["B"].website_ids) == (False, [1])
    assert (rows["C"].enabled, rows["C"].visible) == (False, False)


def test_lists_can_be_limited_to_a_website(client, lists, post_states):
    post_states([state("A", websites=[1]), state("B", websites=[2]), state("C", websites=[1, 2])])
    assert skus(client, "/v1/popular?website=1") == ["A", "C", "D"]  # D: websites unknown
    assert skus(client, "/v1/popular?website=2") == ["B", "C", "D"]
    assert skus(client, "/v1/popular") == ["A", "B", "C", "D"]
    assert skus(client, "/v1/items/A/similar?website=2") == ["B", "C", "D"]
    for bad in ("-1", "x", "", "1.5", "²", str(2**31)):
        response = client.get(f"/v1/popular?website={bad}")
        assert response.status_code == 400
        assert "website" in response.get_json()["error"]


@pytest.mark.parametrize("products, field", [
    ([], "products"),
    ([{"sku": "A", "enabled": "yes"}], "products.0.enabled"),
    ([{"sku": "A", "website_ids": [-1]}], "products.0.website_ids.0"),
    ([{"sku": "A"}, {"sku": "A"}], "(body)"),  # "products: SKU listed twice ['A']"
    ([{"sku": " "}], "products.0.sku"),
    # Native links (issue 18): SKUs, each once, never the product itself, not on a deletion.
    ([state("A") | {"related": "B"}], "products.0.related"),
    ([state("A") | {"related": ["B", 7]}], "products.0.related.1"),
    ([state("A") | {"upsell": ["B", "B"]}], "products.0"),
    ([state("A") | {"related": ["A"]}], "products.0"),
    ([{"sku": "A", "deleted": True, "upsell": []}], "products.0"),
    ([state("A") | {"related": [f"S-{k}" for k in range(101)]}], "products.0.related"),
    ([state("A") | {"related": ["B\u0000"]}], "products.0.related.0"),
])
def test_bad_states_are_400_and_change_nothing(client, lists, post_states, products, field):
    response = post_states(products)
    assert response.status_code == 400
    assert field in [f["field"] for f in response.get_json()["fields"]]
    assert skus(client, "/v1/popular") == ["A", "B", "C", "D"]


def test_unsigned_or_wrongly_signed_states_are_401(client, lists, post_states):
    assert post_states([state("A", enabled=False)], headers={}).status_code == 401
    assert post_states([state("A", enabled=False)], secret="whsec_d3Jvbmc=").status_code == 401
    assert skus(client, "/v1/popular") == ["A", "B", "C", "D"]


def _links(app) -> dict[str, tuple]:
    with app.app_context(), services.engine().connect() as conn:
        return {r.sku: (r.related_skus, r.upsell_skus) for r in conn.execute(select(Product))}


def test_native_links_are_stored_and_served_to_the_magento_arm(app, client, lists, post_states,
                                                                r, token):
    """The module's related/up-sell links are kept per SKU (newest state wins, left out: kept,
    []: cleared, deleted: gone) and make the list of a customer in the A/B arm ``magento``:
    the links of what the customer bought, filtered like every list, with its own
    recommendation id, reported like the other arms' lists."""
    from storage import experiments

    assert post_states([state("A") | {"related": ["B", "C"], "upsell": ["D", "B"]},
                        state("B") | {"related": ["A", "E"], "upsell": []},
                        state("E", in_stock=False)]).status_code == 200
    assert _links(app)["A"] == (["B", "C"], ["D", "B"])
    assert r.hgetall(publish.NATIVE_LINKS) == {"A": '["B","C","D"]', "B": '["A","E"]'}
    r.set(experiments.KEY, json.dumps({"name": "t", "status": "running", "salt": "s",
                                       "arms": [["magento", 1], ["dmf", 0.000001]]}))
    auth = {"Authorization": f"Bearer {token(42)}"}
    path = "/v1/customers/42/recommendations"
    # No purchase yet: nothing to link from, the popular list (a fallback, as in arm dmf).
    body = client.get(path, headers=auth).get_json()
    assert body["fallback"] is True and body["recommendation"]["arm"] == "magento"
    publish.set_bought(r, "42", ["A", "B"])
    body = client.get(path, headers=auth).get_json()
    # Round robin over the anchors' links (A's first, B's first, A's second, ...), without
    # what the customer bought (A, B) and what Magento would not show (E).
    assert [i["sku"] for i in body["items"]] == ["C", "D"]
    assert (body["fallback"], body["version"]) == (False, None)
    rec = body["recommendation"]
    assert (rec["arm"], rec["experiment"], rec["positions"]) == ("magento", "t", {"C": 1, "D": 2})
    assert skus(client, path + "?exclude=C&limit=1", **auth) == ["D"]
    report = {"token": token(42), "reports": [{"recommendation": {
        **{k: rec[k] for k in ("id", "subject", "experiment", "arm", "version", "day")},
        "skus": ["C", "D"]}, "events": [{"type": "click", "sku": "D", "position": 2}]}]}
    sent = client.post("/v1/analytics/events", data=json.dumps(report), content_type="text/plain")
    assert sent.status_code == 202
    forged = json.loads(json.dumps(report))
    forged["reports"][0]["recommendation"]["arm"] = "dmf"
    assert client.post("/v1/analytics/events", data=json.dumps(forged),
                       content_type="text/plain").status_code == 403

    # Left out: kept; an older state: ignored; []: cleared; deleted: gone.
    post_states([state("A")], at="2026-12-01T10:00:01Z", event_id="p-2")
    post_states([state("B") | {"related": ["C"]}], at="2026-12-01T09:00:00Z", event_id="p-old")
    assert _links(app)["A"] == (["B", "C"], ["D", "B"])
    assert _links(app)["B"] == (["A", "E"], [])
    post_states([state("A") | {"related": [], "upsell": []}, {"sku": "B", "deleted": True}],
                at="2026-12-01T10:00:02Z", event_id="p-3")
    assert _links(app)["A"] == ([], []) and _links(app)["B"] == ([], [])
    assert r.hgetall(publish.NATIVE_LINKS) == {}
    assert client.get(path, headers=auth).get_json()["fallback"] is True


def test_bad_links_write_nothing(app, client, lists, post_states, r):
    """One bad state refuses the whole event: the good states beside it are not stored."""
    post_states([state("A") | {"related": ["B"]}])
    bad = post_states([state("A") | {"related": ["C"]}, state("C") | {"upsell": ["C"]}],
                      at="2026-12-01T10:00:01Z", event_id="p-2")
    assert bad.status_code == 400
    assert "links to itself" in json.dumps(bad.get_json())
    assert _links(app) == {"A": (["B"], None)}
    assert r.hgetall(publish.NATIVE_LINKS) == {"A": '["B"]'}
