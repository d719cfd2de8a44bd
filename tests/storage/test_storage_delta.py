"""Ingestion writes only what changed (issue #17), on MariaDB and SQLite: a snapshot that
changes no counted line touches no pair and refreshes no customer, a refund touches only its
own pairs, and pairs that only grow add up exactly when many workers grow them at once."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from storage_oracle import event, expected_pairs, item, normalise, order, stored_pairs

from storage.db import make_engine
from storage.ingestion import Policy, ingest, process_batch, receive
from storage.models import Interaction

POLICY = Policy()


def stamps(engine: Engine) -> dict[tuple[str, str], datetime]:
    with engine.connect() as conn:
        return {(k, s): at for k, s, at in conn.execute(
            select(Interaction.customer_key, Interaction.sku, Interaction.updated_at))}


def apply(engine: Engine, event_id: str, body: dict) -> set[str]:
    """Record and apply one event as a worker does; the customers its batch touched."""
    receive(engine, json.dumps(event(event_id, body)))
    batch = process_batch(engine, event_id, 64, POLICY)
    assert batch.outcomes == {event_id: "applied"}
    return batch.customers


def test_only_changed_pairs_are_touched(engine):
    first = order(1, [item(1, "A", 2, 5), item(2, "B", 1, 3)], updated="2024-01-10 10:00:00")
    other = order(2, [item(3, "A", 1, 5)], created="2024-01-11 09:00:00")
    assert apply(engine, "placed-1", first) == {"1"}
    assert apply(engine, "placed-2", other) == {"1"}
    written = stamps(engine)

    # Invoiced: a later snapshot, every line rewritten in Magento, no effective quantity moved.
    invoiced = order(1, [item(1, "A", 2, 5, qty_invoiced=2), item(2, "B", 1, 3, qty_invoiced=1)],
                     updated="2024-01-10 11:00:00")
    assert apply(engine, "invoiced-1", invoiced) == set()
    assert stamps(engine) == written

    # B refunded: only (1, B) changes (it goes); (1, A) keeps its row as written.
    refunded = order(1, [item(1, "A", 2, 5, qty_invoiced=2),
                         item(2, "B", 1, 3, qty_invoiced=1, qty_refunded=1)],
                     updated="2024-01-10 12:00:00")
    assert apply(engine, "refund-1", refunded) == {"1"}
    assert stamps(engine) == {("1", "A"): written[("1", "A")]}
    assert normalise(stored_pairs(engine)) == normalise(expected_pairs([refunded, other], POLICY))

    # Half of order 1's A refunded: (1, A) is recomputed over both orders.
    half = order(1, [item(1, "A", 2, 5, qty_invoiced=2, qty_refunded=1),
                     item(2, "B", 1, 3, qty_invoiced=1, qty_refunded=1)],
                 updated="2024-01-10 13:00:00")
    assert apply(engine, "refund-1b", half) == {"1"}
    assert stamps(engine)[("1", "A")] > written[("1", "A")]
    want = expected_pairs([half, other], POLICY)
    assert want[("1", "A")][:3] == (2, 10, 2)  # one unit left of each order, both count
    assert normalise(stored_pairs(engine)) == normalise(want)


def test_pairs_grown_by_many_workers_at_once_add_up(engine):
    """Every worker adds new orders of one customer to the same pairs (no pair ever loses a
    line): the stored sums, counts and dates are those of all the orders."""
    workers, per_worker = 4, 6
    t0 = datetime(2024, 5, 1, 8)
    orders = [[order(100 * w + k + 1, [item(10 * (100 * w + k) + 1, "A", w + 1, 2),
                                       item(10 * (100 * w + k) + 2, f"S{k % 2}", 1, 3)],
                     customer_id=5,
                     created=(t0 + timedelta(hours=(k * workers + w) % 17)).isoformat(" "))
               for k in range(per_worker)] for w in range(workers)]
    url = engine.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def work(w: int) -> None:
        own = make_engine(url)
        barrier.wait()
        try:
            for k, body in enumerate(orders[w]):
                ingest(own, [event(f"w{w}-o{k}", body)], POLICY)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    want = expected_pairs([o for own in orders for o in own], POLICY)
    assert want[("5", "A")][2] == workers * per_worker
    assert normalise(stored_pairs(engine)) == normalise(want)
