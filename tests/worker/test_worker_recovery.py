"""After Redis loses everything (FLUSHDB of the test database: a FLUSHALL's effect on it),
the restore rebuilds every bought set and the active version, with lists that follow the
purchases made since training (real Redis, SQLite, a real tiny model)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from storage.db import run_transaction
from storage.ingestion import apply_snapshots
from storage.snapshot import parse_event
from worker import live, publish, recovery, training


@pytest.fixture
def shop(seed_shop):
    return seed_shop(seed=5, train_epochs=2, train_members=1)


def _bought_in_db(rt) -> dict[str, set[str]]:
    with rt.reading() as session:
        rows = live.customer_rows(session, [str(c) for c in range(200, 208)] + ["900"])
    return {c: set(row) for c, row in rows.items() if row}


def test_flushed_redis_gets_bought_sets_and_lists_that_follow_new_purchases(
        shop, r, record, make_event):
    version = training.nightly_retrain(shop)["version"]
    trained = publish.read_user_list(r, "200")[1]
    # After training: customer 200 buys SKU-NEW and the top SKU of its list; customer 900
    # arrives through the Magento import (applied without the worker: no bought set).
    top = trained[0][0]
    live.process_event(shop, record(make_event("after", entity_id=5100, customer_id=200,
                                               lines={top: 2, "SKU-NEW": 1}, minutes_ago=1)))
    imported = parse_event(make_event("imp", entity_id=5200, customer_id=900,
                                      lines={"SKU-A": 1, "SKU-B": 3})).order
    run_transaction(shop.engine, lambda s: apply_snapshots(s, [imported], shop.policy))
    assert not r.exists(publish.bought_key("900"))

    r.flushdb()
    assert recovery.redis_lost(shop) and not recovery.redis_lost(shop)  # queued once
    started = time.monotonic()
    summary = recovery.restore(shop)
    assert time.monotonic() - started < 120
    assert publish.active_version(r) == version and summary["version"] == version
    assert summary["folded_in"] >= 2  # 200 and 900: orders applied since the data was read

    expected = _bought_in_db(shop)
    assert set(expected) == {*(str(c) for c in range(200, 208)), "900"}
    window = shop.settings.window_days * 86400
    for customer, skus in expected.items():
        key = publish.bought_key(customer)
        assert r.smembers(key) == skus, customer
        assert window - 3600 < r.ttl(key) <= window  # last bought within the hour
    assert top in expected["200"] and "SKU-NEW" in expected["200"]

    loaded = shop.active_model()
    with shop.reading() as session:
        rows = live.customer_rows(session, ["200", "900"])
    for customer in ("200", "900"):
        listed = publish.read_user_list(r, customer)[1]
        fresh = live.fold_in_pairs(loaded, rows[customer], shop.settings.value_scheme,
                                   shop.settings.publish_n)
        assert [s for s, _ in listed] == [s for s, _ in fresh], customer
        assert np.allclose([x for _, x in listed], [x for _, x in fresh], atol=1e-5)
    assert top not in {s for s, _ in publish.read_user_list(r, "200")[1]}  # not stale
    assert not recovery.redis_lost(shop)  # intact again: nothing more is queued


def test_a_redis_that_kept_its_version_only_gets_bought_sets(shop, r):
    version = training.nightly_retrain(shop)["version"]
    lists = {k: r.get(k) for k in r.scan_iter(f"dmfrec:v:{version}:user:*")}
    for customer in range(200, 208):
        r.delete(publish.bought_key(str(customer)))
    assert recovery.redis_lost(shop)  # no marker yet (a first start, an upgrade)
    summary = recovery.restore(shop)
    assert summary["bought_sets"] == 8 and summary["folded_in"] == 0
    assert {k: r.get(k) for k in r.scan_iter(f"dmfrec:v:{version}:user:*")} == lists
    assert all(r.exists(publish.bought_key(str(c))) for c in range(200, 208))


def test_native_links_come_back_from_the_database(rt, r):
    """The magento arm's links (issue 18) are rebuilt as the catalogue sync stored them."""
    from storage.catalog import apply_catalog, parse_catalog

    apply_catalog(rt.engine, parse_catalog({
        "event_id": "p-1", "occurred_at": "2026-12-01T10:00:00Z", "products": [
            {"sku": "A", "related": ["B"], "upsell": ["C", "B"]}, {"sku": "B", "related": []},
            {"sku": "C", "enabled": False}]}))
    r.hset(publish.NATIVE_LINKS, mapping={"STALE": '["A"]'})
    assert recovery.rebuild_native_links(rt) == 1
    assert r.hgetall(publish.NATIVE_LINKS) == {"A": '["B","C"]'}


def test_the_experiment_and_its_winner_come_back_from_the_database(rt, r):
    """Issue 18: the storefront reads the A/B config from Redis only; lost, every customer
    would get DMF: a running experiment's other arms, or a stopped one's winner, silently gone."""
    from storage import experiments

    assert recovery.restore(rt)["experiment"] is None and r.get(experiments.KEY) is None
    experiments.start(rt.engine, r, "first", experiments.parse_arms("dmf=50,popular=50"))
    experiments.stop(rt.engine, r, "first", "popular")
    running = experiments.start(rt.engine, r, "second", experiments.parse_arms(
        "dmf=1,magento=3"))
    r.flushdb()
    assert recovery.restore(rt)["experiment"] == "second"
    assert experiments.read_config(r) == running
    experiments.stop(rt.engine, r, "second", "magento")
    r.flushdb()
    recovery.restore(rt)
    assert experiments.assign(experiments.read_config(r), "42") == experiments.Assignment(
        "", "magento")
