"""Storefront endpoints: tokens, lists from the real Redis, fallback, filtering, CORS."""

from __future__ import annotations

import time

import pytest

from worker import publish


@pytest.fixture
def lists(r):
    """Version v1 active: customer 42 has a list, SKU-A has similar SKUs; a popular list."""
    publish.publish_user_lists(r, "v1", {"42": [(f"P{k}", 1 - k / 100) for k in range(20)]})
    publish.publish_similar(r, "v1", {"SKU-A": [("SKU-B", 0.9), ("SKU-C", 0.8), ("SKU-D", 0.7)]})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [("TOP1", 30), ("TOP2", 20), ("TOP3", 10), ("SKU-A", 5)])
    return r


def skus(response) -> list[str]:
    return [item["sku"] for item in response.get_json()["items"]]


def test_customer_list_needs_a_token(client, lists):
    response = client.get("/v1/customers/42/recommendations")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_customer_list_with_bearer_token(client, lists, token):
    response = client.get("/v1/customers/42/recommendations",
                          headers={"Authorization": f"Bearer {token(42)}"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["customer_id"] == "42"
    assert body["version"] == "v1"
    assert body["fallback"] is False
    assert skus(response) == ["P0", "P1", "P2", "P3", "P4"]  # top_n=5 by default
    assert body["items"][0]["score"] == pytest.approx(1.0)
    assert "private" in response.headers["Cache-Control"]


def test_token_in_query_string(client, lists, token):
    response = client.get(f"/v1/customers/42/recommendations?limit=2&token={token(42)}")
    assert response.status_code == 200
    assert skus(response) == ["P0", "P1"]


def test_another_customers_token_is_403(client, lists, token):
    response = client.get("/v1/customers/42/recommendations",
                          headers={"Authorization": f"Bearer {token(43)}"})
    assert response.status_code == 403


@pytest.mark.parametrize("bad", ["expired", "forged", "garbage", "other-secret"])
def test_bad_tokens_are_401(client, lists, token, bad):
    from webhook import tokens

    value = {
        "expired": tokens.mint("token-secret-for-tests", 42, ttl_s=60, now=time.time() - 600),
        "forged": token(42)[:-4] + "0000",
        "garbage": "hello",
        "other-secret": token(42, secret="someone-else"),
    }[bad]
    response = client.get("/v1/customers/42/recommendations",
                          headers={"Authorization": f"Bearer {value}"})
    assert response.status_code == 401


def test_tokens_not_configured_is_503(make_app, settings, lists):
    app = make_app(settings.model_copy(update={"token_secret": ""}))
    assert app.test_client().get("/v1/customers/42/recommendations?token=x").status_code == 503


def test_unknown_customer_gets_popular_with_fallback(client, lists, token):
    response = client.get(f"/v1/customers/777/recommendations?token={token(777)}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["fallback"] is True
    assert body["version"] is None
    assert skus(response) == ["TOP1", "TOP2", "TOP3", "SKU-A"]


def test_hidden_excluded_and_bought_skus_are_filtered(client, lists, token):
    publish.set_hidden_skus(lists, ["P0", "TOP2"])
    publish.set_bought(lists, "42", ["P2"])
    response = client.get(f"/v1/customers/42/recommendations?limit=4&exclude=P1,P4&token="
                          f"{token(42)}")
    assert skus(response) == ["P3", "P5", "P6", "P7"]
    # The fallback is filtered too: hidden TOP2, and what customer 777 bought.
    publish.set_bought(lists, "777", ["TOP1"])
    response = client.get(f"/v1/customers/777/recommendations?token={token(777)}")
    assert skus(response) == ["TOP3", "SKU-A"]


def test_bought_filter_follows_the_setting(make_app, settings, lists, token):
    app = make_app(settings.model_copy(update={"exclude_purchased": False}))
    publish.set_bought(lists, "42", ["P0"])
    response = app.test_client().get(f"/v1/customers/42/recommendations?token={token(42)}")
    assert skus(response)[0] == "P0"


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "51", "1.5", "²", "٣", "１", "+5", " 5",
                                   "5_0", "1e1", "", "9" * 40])
@pytest.mark.parametrize("path", ["/v1/popular", "/v1/items/SKU-A/similar"])
def test_bad_limit_is_400_naming_it(client, lists, limit, path):
    response = client.get(path, query_string={"limit": limit})
    assert response.status_code == 400
    assert "limit: must be an integer from 1 to 50" in response.get_json()["error"]


def test_customer_list_validates_every_parameter_after_the_token(client, lists, token):
    base = "/v1/customers/42/recommendations"
    assert client.get(base, query_string={"limit": "²"}).status_code == 401  # no token yet
    response = client.get(base, query_string={"limit": "²", "token": token(42)})
    assert response.status_code == 400 and "limit" in response.get_json()["error"]
    response = client.get(base, query_string={"limit": "2", "token": token(42),
                                               "exclude": "x" * 65})
    assert response.status_code == 400 and "exclude" in response.get_json()["error"]


def test_repeated_parameter_is_400_and_unknown_ones_are_ignored(client, lists):
    response = client.get("/v1/popular?limit=1&limit=2")
    assert response.status_code == 400
    assert "given more than once: limit" in response.get_json()["error"]
    assert skus(client.get("/v1/popular?limit=2&_=1700000000")) == ["TOP1", "TOP2"]


def test_too_many_excludes_is_400(client, lists):
    exclude = ",".join(f"S{k}" for k in range(201))
    assert client.get(f"/v1/popular?exclude={exclude}").status_code == 400


def test_similar_items(client, lists):
    response = client.get("/v1/items/SKU-A/similar?limit=2")
    assert response.status_code == 200
    assert response.get_json()["fallback"] is False
    assert skus(response) == ["SKU-B", "SKU-C"]
    publish.set_hidden_skus(lists, ["SKU-B"])
    assert skus(client.get("/v1/items/SKU-A/similar?exclude=SKU-D")) == ["SKU-C"]


def test_unknown_sku_gets_popular_without_itself(client, lists):
    response = client.get("/v1/items/TOP1/similar")
    assert response.get_json()["fallback"] is True
    assert skus(response) == ["TOP2", "TOP3", "SKU-A"]


def test_popular(client, lists):
    response = client.get("/v1/popular?limit=2&exclude=TOP1")
    assert response.status_code == 200
    assert skus(response) == ["TOP2", "TOP3"]
    assert "public" in response.headers["Cache-Control"]


def test_nothing_published_yet(client, r, token):
    assert client.get("/v1/popular").get_json()["items"] == []
    body = client.get(f"/v1/customers/1/recommendations?token={token(1)}").get_json()
    assert body.pop("recommendation")["positions"] == {}  # issue 18: every answer is tagged
    assert body == {"customer_id": "1", "version": None, "fallback": True, "items": []}


def test_atomic_switch_is_seen_by_the_endpoint(client, lists, token):
    publish.publish_user_lists(lists, "v2", {"42": [("NEW", 0.5)]})
    # Published but not active: readers still get v1.
    url = f"/v1/customers/42/recommendations?token={token(42)}"
    assert client.get(url).get_json()["version"] == "v1"
    publish.activate_version(lists, "v2")
    body = client.get(url).get_json()
    assert (body["version"], skus(client.get(url))) == ("v2", ["NEW"])


def test_redis_down_is_503_fast(make_app, settings, closed_port_redis, token):
    app = make_app(settings.model_copy(update={"redis_url": closed_port_redis}))
    started = time.perf_counter()
    response = app.test_client().get("/v1/popular")
    assert response.status_code == 503
    assert time.perf_counter() - started < 2.0
    response = app.test_client().get(f"/v1/customers/1/recommendations?token={token(1)}")
    assert response.status_code == 503


def test_cors_for_the_configured_storefront_only(client, lists, token):
    response = client.get("/v1/popular", headers={"Origin": "https://shop.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    response = client.get("/v1/popular", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/v1/customers/42/recommendations",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "Authorization"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    # Webhooks are server to server: no CORS there.
    response = client.post("/v1/webhooks/magento/orders",
                           headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
