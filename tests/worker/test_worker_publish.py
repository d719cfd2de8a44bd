"""The Redis layout: versioned lists, the atomic switch, TTLs, read-time filtering."""

from __future__ import annotations

import threading

import pytest

from worker import publish


def test_user_lists_round_trip_and_empty_list_deletes(r):
    publish.publish_user_lists(r, "v1", {"7": [("A", 0.9), ("B", 0.5)], "8": [("C", 1)]})
    publish.activate_version(r, "v1")
    assert publish.read_user_list(r, "7") == ("v1", [("A", 0.9), ("B", 0.5)])
    publish.publish_user_lists(r, "v1", {"7": []})
    assert publish.read_user_list(r, "7") == ("v1", None)
    assert publish.read_user_list(r, "8") == ("v1", [("C", 1.0)])


def test_user_lists_streamed_as_pairs_are_written_in_chunks(r):
    """A full publish streams (customer, list) pairs block by block; none is dropped at a
    chunk boundary and the count includes every customer."""
    def lists():
        for c in range(2501):
            yield str(c), [(f"S{c % 7}", 1.0 - c / 10_000)]

    assert publish.publish_user_lists(r, "v1", lists(), chunk=1000) == 2501
    publish.activate_version(r, "v1")
    assert publish.read_user_list(r, "2500") == ("v1", [("S1", 0.75)])
    assert publish.read_user_list(r, "999") == ("v1", [("S5", 0.9001)])
    assert len(list(r.scan_iter(publish.user_key("v1", "*"), count=1000))) == 2501


def test_nothing_is_readable_before_activation(r):
    publish.publish_user_lists(r, "v1", {"7": [("A", 0.9)]})
    assert publish.read_user_list(r, "7") == (None, None)
    # Pending lists expire on their own if the publish is never completed.
    assert 0 < r.ttl(publish.user_key("v1", "7")) <= 2 * 86400


def test_activation_persists_new_keys_and_expires_old(r):
    publish.publish_user_lists(r, "v1", {"7": [("A", 0.9)]})
    publish.publish_similar(r, "v1", {"A": [("B", 0.8)]})
    assert publish.activate_version(r, "v1") is None
    assert r.ttl(publish.user_key("v1", "7")) == -1
    assert r.ttl(publish.similar_key("v1", "A")) == -1

    publish.publish_user_lists(r, "v2", {"7": [("Z", 0.1)]})
    assert publish.activate_version(r, "v2", ttl_old=100) == "v1"
    assert r.ttl(publish.user_key("v2", "7")) == -1
    assert 0 < r.ttl(publish.user_key("v1", "7")) <= 100
    assert 0 < r.ttl(publish.similar_key("v1", "A")) <= 100
    assert publish.read_user_list(r, "7") == ("v2", [("Z", 0.1)])
    assert r.zrange(publish.VERSIONS, 0, -1) == ["v1", "v2"]


def test_only_the_last_replaced_versions_stay_readable(r):
    """Fine-tunes publish versions several times a day: only `keep` replaced versions keep
    their lists for ttl_old; earlier ones expire within the grace; a version being published
    (never activated) keeps its pending TTL."""
    for v in ("v1", "v2", "v3"):
        publish.publish_user_lists(r, v, {"7": [(v, 1.0)]})
        publish.activate_version(r, v, ttl_old=1000, keep=1)
    publish.publish_user_lists(r, "v5", {"7": [("pending", 1.0)]}, pending_ttl_s=5000)
    publish.publish_user_lists(r, "v4", {"7": [("v4", 1.0)]})
    assert publish.activate_version(r, "v4", ttl_old=1000, keep=1) == "v3"
    ttl = {v: r.ttl(publish.user_key(v, "7")) for v in ("v1", "v2", "v3", "v4", "v5")}
    assert ttl["v4"] == -1
    assert 900 < ttl["v3"] <= 1000  # the rollback target
    assert 0 < ttl["v2"] <= publish.RETIRED_GRACE_S and 0 < ttl["v1"] <= publish.RETIRED_GRACE_S
    assert 4000 < ttl["v5"] <= 5000
    assert publish.read_user_list(r, "7") == ("v4", [("v4", 1.0)])


def test_readers_never_see_a_mix_during_a_switch(r):
    """Lists of v1 say 'old', of v2 'new'; a reader reading two customers in one request
    (one pointer read) must see the same version for both, while the switch happens."""
    customers = [str(c) for c in range(50)]
    publish.publish_user_lists(r, "v1", {c: [("old", 1.0)] for c in customers})
    publish.activate_version(r, "v1")
    publish.publish_user_lists(r, "v2", {c: [("new", 1.0)] for c in customers})

    mixed: list[set] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            version = publish.active_version(r)
            seen = {publish.decode(r.get(publish.user_key(version, c)))[0][0] for c in customers}
            if len(seen) != 1:
                mixed.append(seen)

    thread = threading.Thread(target=reader)
    thread.start()
    publish.activate_version(r, "v2", ttl_old=60)
    stop.set()
    thread.join()
    assert mixed == []
    assert publish.read_user_list(r, "3") == ("v2", [("new", 1.0)])


def test_fold_in_write_lands_only_in_the_active_version(r):
    publish.publish_user_lists(r, "v1", {"7": [("A", 0.9)]})
    publish.activate_version(r, "v1")
    assert publish.publish_user_if_active(r, "v1", "7", [("B", 0.7)])
    assert publish.read_user_list(r, "7") == ("v1", [("B", 0.7)])
    publish.publish_user_lists(r, "v2", {"7": [("C", 0.1)]})
    publish.activate_version(r, "v2")
    # A fold-in computed with v1's model arrives late: refused, v1 is not resurrected.
    assert not publish.publish_user_if_active(r, "v1", "7", [("D", 0.5)])
    assert publish.read_user_list(r, "7") == ("v2", [("C", 0.1)])
    assert publish.decode(r.get(publish.user_key("v1", "7"))) == [("B", 0.7)]
    assert publish.publish_user_if_active(r, "v2", "7", [])
    assert publish.read_user_list(r, "7") == ("v2", None)


def test_a_batch_of_fold_ins_lands_only_in_the_active_version(r):
    """The live loop writes a batch's lists in one script, the version checked once."""
    publish.publish_user_lists(r, "v1", {"7": [("A", 0.9)], "8": [("A", 0.8)]})
    publish.activate_version(r, "v1")
    assert publish.publish_users_if_active(r, "v1", {}) == 0
    assert publish.publish_users_if_active(
        r, "v1", {"7": [("B", 0.7)], "8": [], "9": [("C", 0.2), ("D", 0.1)]}) == 3
    assert publish.read_user_list(r, "7") == ("v1", [("B", 0.7)])
    assert publish.read_user_list(r, "8") == ("v1", None)
    assert publish.read_user_list(r, "9") == ("v1", [("C", 0.2), ("D", 0.1)])
    publish.publish_user_lists(r, "v2", {"7": [("C", 0.1)]})
    publish.activate_version(r, "v2")
    assert publish.publish_users_if_active(r, "v1", {"7": [("D", 0.5)], "9": []}) == 0
    assert publish.read_user_list(r, "7") == ("v2", [("C", 0.1)])
    assert publish.decode(r.get(publish.user_key("v1", "7"))) == [("B", 0.7)]


def test_filtering_hidden_bought_and_excluded(r):
    pairs = [(s, 1.0 - k / 10) for k, s in enumerate("ABCDEFG")]
    publish.set_hidden_skus(r, ["B", "X"])
    publish.set_bought(r, "7", ["C"])
    kept = publish.filter_pairs(r, pairs, limit=3, exclude=["D"], customer_id="7")
    assert [s for s, _ in kept] == ["A", "E", "F"]
    # Without a customer, bought SKUs are not removed.
    assert [s for s, _ in publish.filter_pairs(r, pairs, limit=3)] == ["A", "C", "D"]
    publish.set_hidden_skus(r, [])
    publish.set_bought(r, "7", [])
    assert [s for s, _ in publish.filter_pairs(r, pairs, limit=2, customer_id="7")] == ["A", "B"]
    assert publish.filter_pairs(r, [("A", 1.0)], limit=5, exclude=["A"]) == []


def test_hidden_set_replacement_is_atomic_and_incremental(r):
    publish.set_hidden_skus(r, ["A", "B"])
    publish.set_hidden_skus(r, ["C"])
    assert r.smembers(publish.HIDDEN_SKUS) == {"C"}
    publish.hide_skus(r, ["D"])
    publish.hide_skus(r, ["C"], hidden=False)
    assert r.smembers(publish.HIDDEN_SKUS) == {"D"}
    assert not [k for k in r.keys("*") if ":tmp:" in k]


def test_popular_replaced_whole(r):
    assert publish.read_popular(r) == []
    publish.publish_popular(r, [("A", 10), ("B", 3)])
    assert publish.read_popular(r) == [("A", 10.0), ("B", 3.0)]
    publish.publish_popular(r, [])
    assert publish.read_popular(r) == []


@pytest.mark.parametrize("bad", ["", "v 1", "v*", "a:b", "x" * 65])
def test_versions_must_be_key_safe(r, bad):
    with pytest.raises(ValueError):
        publish.publish_user_lists(r, bad, {})
