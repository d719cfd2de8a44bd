"""Several workers ingesting snapshots of the same orders at once must not corrupt them."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta

from storage_dbs import clean
from storage_oracle import event, expected_pairs, item, normalise, order, stored_pairs

from storage.db import make_engine
from storage.ingestion import Policy, ingest

POLICY = Policy()
WORKERS = 4


def history(entity_id: int, skus: list[str]) -> list[dict]:
    """placed -> invoiced -> refunds one by one: every step changes the interactions."""
    t0 = datetime(2024, 3, 1, 12) + timedelta(minutes=entity_id)
    snaps = []
    for step in range(6):
        refunded = max(0, step - 1)
        items = [item(k + 1, sku, 5, 2, qty_invoiced=5 if step else 0, qty_refunded=refunded)
                 for k, sku in enumerate(skus)]
        snaps.append(order(entity_id, items, customer_id=9, created=t0.isoformat(" "),
                           updated=(t0 + timedelta(hours=step)).isoformat(" ")))
    return snaps


def test_concurrent_workers_same_orders(engine):
    # Three orders of one customer share SKUs, so their lines meet in the same pairs.
    histories = [history(1, ["A", "B"]), history(2, ["B", "C"]), history(3, ["A", "C"])]
    events = [event(f"o{o}-s{s}", snap) for o, h in enumerate(histories)
              for s, snap in enumerate(h)]
    worker_engine = make_engine(engine.url.render_as_string(hide_password=False))
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    def work(seed: int) -> None:
        mine = events[:]
        random.Random(seed).shuffle(mine)
        barrier.wait()
        try:
            for k in range(0, len(mine), 2):
                ingest(worker_engine, mine[k : k + 2], POLICY)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    worker_engine.dispose()
    assert errors == []
    newest = [h[-1] for h in histories]
    assert len(expected_pairs(newest, POLICY)) == 3
    assert normalise(stored_pairs(engine)) == normalise(expected_pairs(newest, POLICY))


def _run_workers(url: str, per_worker: list[list[dict]]) -> list[BaseException]:
    engine = make_engine(url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(per_worker))

    def work(events: list[dict]) -> None:
        barrier.wait()
        try:
            for ev in events:
                ingest(engine, [ev], POLICY)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(evs,)) for evs in per_worker]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    return errors


def test_concurrent_orders_of_one_pair(engine):
    """Each worker owns one order, all orders feed the same customer x SKU pairs: the pair's
    recomputation must see the other workers' committed lines (pair row locks)."""
    url = engine.url.render_as_string(hide_password=False)
    for rnd in range(4):
        clean(engine)
        histories = [history(10 * rnd + k + 1, ["A", "B"]) for k in range(WORKERS)]
        per_worker = [[event(f"r{rnd}-o{k}-s{s}", snap) for s, snap in enumerate(h)]
                      for k, h in enumerate(histories)]
        assert _run_workers(url, per_worker) == []
        want = expected_pairs([h[-1] for h in histories], POLICY)
        assert want[("9", "A")][0] == WORKERS  # one unit left of each order
        assert normalise(stored_pairs(engine)) == normalise(want)
