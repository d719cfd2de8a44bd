"""The storefront's one-round-trip list script (webhook.lists) against the real Redis."""

from __future__ import annotations

import json

import redis as redis_lib

from storage.catalog import SkuState
from webhook import lists
from webhook.catalog import publish_states
from worker import publish


class CountingRedis(redis_lib.Redis):
    """A real client that records each command it sends (pipelines counted as one)."""

    sent: list[str]

    def execute_command(self, *args, **options):
        self.sent.append(str(args[0]))
        return super().execute_command(*args, **options)

    def pipeline(self, *args, **kwargs):
        self.sent.append("PIPELINE")
        return super().pipeline(*args, **kwargs)


def test_a_customer_list_is_one_round_trip(app, r, token):
    publish.publish_user_lists(r, "v1", {"42": [(f"P{k}", 1 - k / 100) for k in range(20)]})
    publish.activate_version(r, "v1")
    publish.set_hidden_skus(r, ["P0"])
    publish.set_bought(r, "42", ["P1"])
    counting = CountingRedis(connection_pool=r.connection_pool)
    counting.sent = []
    ext = app.extensions["dmfrec"]
    ext["redis"], ext["list_script"] = counting, lists.register(counting)
    # The A/B config is reread once per DMFREC_EXPERIMENT_REFRESH_S, not per request.
    ext["settings"] = ext["settings"].model_copy(update={"experiment_refresh_s": 60})
    client = app.test_client()
    response = client.get(f"/v1/customers/42/recommendations?limit=3&exclude=P3&website=1"
                          f"&token={token(42)}")
    assert [i["sku"] for i in response.get_json()["items"]] == ["P2", "P4", "P5"]
    # The first call may load the script (NOSCRIPT, then EVAL); every later call is one EVALSHA.
    counting.sent.clear()
    client.get(f"/v1/customers/42/recommendations?token={token(42)}")
    client.get("/v1/popular")
    client.get("/v1/items/P1/similar")
    # The popular list and similar items look for a ready answer first (none yet): the
    # script keeps one, and the repeats are one HGET each.
    assert counting.sent == ["EVALSHA", "HGET", "EVALSHA", "HGET", "EVALSHA"]
    counting.sent.clear()
    client.get("/v1/popular")
    client.get("/v1/items/P1/similar")
    client.get("/v1/popular?exclude=P9")  # a per-request filter: the script, nothing kept
    assert counting.sent == ["HGET", "HGET", "EVALSHA"]


def _popular(client, query: str = "") -> list[str]:
    return [i["sku"] for i in client.get("/v1/popular" + query).get_json()["items"]]


def test_ready_answers_follow_every_write_they_depend_on(client, r):
    """The popular list and similar items are served from ready answers (one per kind, limit
    and SKU), which each writer of the popular list, the hidden set, the catalogue states and
    the active version drops: a request after a write never sees the answer from before."""
    publish.publish_popular(r, [("A", 3.0), ("B", 2.0), ("C", 1.0)])
    assert _popular(client) == ["A", "B", "C"]
    assert _popular(client, "?limit=1") == ["A"]
    assert set(r.hkeys(publish.ANSWERS)) == {":5:", ":1:"}
    assert 0 < r.ttl(publish.ANSWERS) <= lists.ANSWER_TTL_S
    assert _popular(client) == ["A", "B", "C"]  # served from the ready answer
    publish.publish_popular(r, [("B", 3.0), ("A", 2.0)])
    assert _popular(client) == ["B", "A"]
    publish.hide_skus(r, ["B"])
    assert _popular(client) == ["A"]
    publish.set_hidden_skus(r, [])
    assert _popular(client) == ["B", "A"]
    # The catalogue webhook's writes (webhook.catalog.publish_states).
    publish_states(r, [SkuState(sku="A", hidden=True, website_ids=None)])
    assert _popular(client) == ["B"]
    # Similar items: the active version's list, then a new version's.
    publish.publish_similar(r, "v1", {"S": [("T", 0.5), ("U", 0.4)]})
    publish.activate_version(r, "v1")
    similar = client.get("/v1/items/S/similar?limit=2").get_json()
    assert (similar["version"], [i["sku"] for i in similar["items"]]) == ("v1", ["T", "U"])
    publish.publish_similar(r, "v1", {"S": [("U", 0.9)]})  # the active version rewritten
    assert [i["sku"] for i in client.get("/v1/items/S/similar?limit=2").get_json()[
        "items"]] == ["U"]
    publish.publish_similar(r, "v2", {"S": [("V", 0.7)]})  # pending: nothing changes yet
    assert client.get("/v1/items/S/similar?limit=2").get_json()["version"] == "v1"
    publish.activate_version(r, "v2")
    similar = client.get("/v1/items/S/similar?limit=2").get_json()
    assert (similar["version"], [i["sku"] for i in similar["items"]]) == ("v2", ["V"])
    # A SKU without a list falls back to the popular list, kept with its fallback flag.
    for _ in range(2):
        assert client.get("/v1/items/Z/similar").get_json() == {
            "sku": "Z", "version": None, "fallback": True, "items": [{"sku": "B", "score": 3.0}]}


def test_a_ready_answer_expires_after_its_ttl_when_no_writer_deletes_it(client, r):
    publish.publish_popular(r, [("A", 3.0)])
    assert _popular(client) == ["A"]
    r.set(publish.POPULAR, publish.encode([("B", 1.0)]))  # a write outside worker.publish
    assert _popular(client) == ["A"]  # the ready answer, until its TTL
    r.expire(publish.ANSWERS, 0)  # (the TTL passing, without waiting for it)
    assert _popular(client) == ["B"]


def test_skus_and_scores_survive_the_script_exactly(client, r):
    odd = ['quo"te', "back\\slash", "ünï/cødé", "tab\there", "12345", "emoji-🛒", 'a],["b',
           '["x"]', "end\\"]
    tail = [("neg", -0.25), ("tiny", 1e-06), ("big", 123456.0)]
    publish.publish_popular(r, [(s, 1.5 - k / 8) for k, s in enumerate(odd)] + tail)
    publish.hide_skus(r, ["ünï/cødé"])
    body = client.get("/v1/popular?limit=50").get_json()
    assert [(i["sku"], i["score"]) for i in body["items"]] == (
        [(s, 1.5 - k / 8) for k, s in enumerate(odd) if s != "ünï/cødé"] + tail)
    assert [i["sku"] for i in client.get("/v1/popular?limit=2").get_json()["items"]] == [
        'quo"te', "back\\slash"]
    assert client.get("/v1/popular", query_string={"exclude": 'quo"te,12345'}).get_json()[
        "items"][0]["sku"] == "back\\slash"


def test_website_filter_and_fallback_in_the_script(client, r, token):
    publish.publish_popular(r, [("A", 3.0), ("B", 2.0), ("C", 1.0)])
    r.hset(publish.SKU_WEBSITES, mapping={"A": "2", "B": "1,2", "C": "10"})
    body = client.get(f"/v1/customers/5/recommendations?website=1&token={token(5)}").get_json()
    assert body.pop("recommendation")["positions"] == {"B": 1}  # issue 18's id rides along
    assert body == {"customer_id": "5", "version": None, "fallback": True,
                    "items": [{"sku": "B", "score": 2.0}]}
    assert [i["sku"] for i in client.get("/v1/popular?website=2").get_json()["items"]] == [
        "A", "B"]


def test_answers_are_json_with_the_head_fields_first(client, r):
    publish.publish_similar(r, "v7", {"S": [("T", 0.5)]})
    publish.activate_version(r, "v7")
    response = client.get("/v1/items/S/similar")
    assert response.mimetype == "application/json"
    assert list(json.loads(response.data)) == ["sku", "version", "fallback", "items"]
    assert response.get_json()["version"] == "v7"
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_the_guest_session_parameter_is_declared_and_bounded(tmp_path):
    from tests.conftest import make_settings
    from webhook import create_app

    client = create_app(make_settings(tmp_path, token_secret="t" * 32)).test_client()
    bad = client.get("/v1/popular?session=" + "x" * 65)
    assert bad.status_code == 400 and "session" in bad.get_json()["error"]
    assert client.get("/v1/popular?session=s.%E2%91%A0").status_code == 400  # not ASCII
    fresh = client.get("/v1/popular?session=new").get_json()
    assert fresh["session"].startswith("s.") and "recommendation" in fresh


def test_native_links_round_robin_bounded_and_filtered_in_the_script(r):
    """Kind native (the A/B arm magento): the anchors' links in turns, each SKU once, only the
    first NATIVE_ANCHORS anchors in SKU order, a website's products, escaped SKUs intact."""
    script = lists.register(r)
    pipe = r.pipeline()
    publish.set_native_links(pipe, {f"A{k:02d}": [f"L{k:02d}-1", f"L{k:02d}-2", "SHARED"]
                                    for k in range(lists.NATIVE_ANCHORS + 5)}
                             | {"Q": ['sl/a"sh\\', "L00-1"]})
    pipe.execute()
    publish.set_bought(r, "7", [f"A{k:02d}" for k in range(lists.NATIVE_ANCHORS + 5)])

    def serve(limit: int, website: int | None = None, customer: str = "7") -> list[str]:
        served = lists.serve(script, "native", customer, limit=limit, exclude=[],
                             website=website, buyer=customer)
        assert not served.fallback and served.version is None
        return [i["sku"] for i in json.loads(served.items)]

    first = [f"L{k:02d}-1" for k in range(lists.NATIVE_ANCHORS)]
    second = [f"L{k:02d}-2" for k in range(lists.NATIVE_ANCHORS)]
    # Anchors past the bound (A30..A34) give nothing; SHARED comes once, in the third turn.
    assert serve(200) == [*first, *second, "SHARED"]
    assert serve(3) == first[:3]
    r.hset(publish.SKU_WEBSITES, mapping={"L00-1": "2", "L01-1": "1"})
    assert serve(2, website=1) == ["L01-1", "L02-1"]
    publish.set_bought(r, "8", ["Q"])
    assert serve(5, customer="8") == ['sl/a"sh\\', "L00-1"]
