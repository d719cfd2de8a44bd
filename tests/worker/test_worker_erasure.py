"""Erasure: one customer seeded everywhere (orders, lines, interactions, applied, pending and
failed events, lists of two model versions, the bought set, two artifacts), then erased with
`dmfrec erase` or the signed admin endpoint; no trace is left (tables read whole, Redis read
by SCAN, artifacts opened), and the other customers are untouched (real Redis and SQLite)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import scipy.sparse as sp
import torch
from sqlalchemy import select, text

from cli.main import main
from storage import failures
from storage.ingestion import Policy, guest_key
from storage.models import Base, ModelVersion
from webhook import create_app, signing
from worker import erasure, live, publish, training

SECRET = "whsec_" + base64.b64encode(b"erasure-test-secret-32-bytes-long").decode()
GUEST_EMAIL = "Gina.Guest@Example.com"


@pytest.fixture
def shop(seed_shop, record, make_event):
    """Customer 42 and guest Gina everywhere, beside eight other customers."""
    rt = seed_shop(seed=9, skus="ABCDEFGH", train_epochs=1, train_members=1,
                   fine_tune_epochs=1, gate_tolerance=1.0, webhook_secrets=SECRET,
                   guest_salt="erasure-test-salt-not-the-default",
                   token_secret="erasure-test-token-secret-32-bytes")
    rt.policy = Policy.from_settings(rt.settings)
    for k, lines in enumerate(({"SKU-A": 1, "SKU-B": 2}, {"SKU-C": 1})):
        live.process_event(rt, record(make_event(f"c42-{k}", entity_id=4200 + k,
                                                 customer_id=42, lines=lines)))
    guest = make_event("gina-0", entity_id=4300, customer_id=None, lines={"SKU-D": 1})
    guest["order"]["customer_email"] = GUEST_EMAIL
    live.process_event(rt, record(guest))
    first = training.nightly_retrain(rt)["version"]
    second = training.fine_tune(rt)["version"]  # the first stays readable (rollback)
    # Not applied yet: a pending event and a failed one, both raw (the email inside).
    record(make_event("c42-pending", entity_id=4202, customer_id=42, lines={"SKU-E": 1}))
    failing = record(make_event("c42-failed", entity_id=4203, customer_id=42))
    failures.note_failure(rt.engine, failing, "DataError: out of range", max_attempts=1)
    guest_pending = make_event("gina-pending", entity_id=4301, customer_id=None)
    guest_pending["order"]["customer_email"] = GUEST_EMAIL.lower()
    record(guest_pending)
    rt.versions = (first, second)
    return rt


def _tables(rt) -> str:
    """Every row of every table, as text."""
    with rt.engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                         for row in conn.execute(select(table)))


def _redis(r) -> dict[str, str]:
    """Every key (SCAN) and its value as text."""
    out = {}
    for key in r.scan_iter(match="*", count=1000):
        kind = r.type(key)
        value = {"string": r.get, "set": r.smembers, "hash": r.hgetall, "zset":
                 lambda k: r.zrange(k, 0, -1), "list": lambda k: r.lrange(k, 0, -1)}[kind](key)
        out[key] = repr(value)
    return out


def _artifacts(rt) -> list[tuple[list[str], sp.csr_matrix, dict]]:
    with rt.reading() as session:
        paths = [Path(p) for p in session.scalars(select(ModelVersion.artifact_path))]
    assert len(paths) == 2
    return [(json.loads((p / "meta.json").read_text())["customer_ids"],
             sp.load_npz(p / "matrix.npz").tocsr(),
             torch.load(p / "weights.pt", weights_only=True)) for p in paths]


def _traces(rt, r, key: str, needles: list[str]) -> list[str]:
    """Where `key` (a customer key) or any of `needles` (emails, payload fragments) remain."""
    found = []
    tables = _tables(rt)
    found += [f"table: {n}" for n in needles if n.lower() in tables.lower()]
    for column in ("customer_key", "customer_id"):
        with rt.engine.connect() as conn:
            for table in ("orders", "interactions", "events"):
                if column == "customer_id" and table != "orders":
                    continue
                n = conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {column} = :k"),
                                 {"k": key}).scalar()
                found += [f"{table}.{column}"] * bool(n)
    for k, value in _redis(r).items():
        if k.split(":")[-1] == key:
            found.append(f"redis key {k}")
        found += [f"redis value {k}: {n}" for n in needles if n.lower() in value.lower()]
    for ids, _, _ in _artifacts(rt):
        if key in ids:
            found.append("artifact customer id")
    return found


def _blank_rows_of_erased(rt) -> None:
    for ids, matrix, state in _artifacts(rt):
        erased = [k for k, c in enumerate(ids) if c.startswith("erased:")]
        assert erased
        for k in erased:
            assert matrix[k].nnz == 0
            assert not state["item_tower.first.weight"][k].any()
        live_rows = [k for k, c in enumerate(ids) if not c.startswith("erased:")]
        assert all(state["item_tower.first.weight"][k].any() for k in live_rows)


def _others_intact(rt, r) -> None:
    version = publish.active_version(r)
    for c in range(200, 208):
        assert r.exists(publish.user_key(version, str(c))), c
        assert r.smembers(publish.bought_key(str(c)))


def test_dmfrec_erase_customer_leaves_no_trace(shop, r, monkeypatch, capsys):
    needles = ['"customer_id": 42', '"customer_id":42', "c4200@example.com",
               "c4202@example.com", "c4203@example.com"]
    before = _traces(shop, r, "42", needles)
    assert {"orders.customer_key", "orders.customer_id", "interactions.customer_key",
            "events.customer_key", "artifact customer id"} <= set(before)
    assert any(t.startswith("redis key dmfrec:v:") for t in before)
    assert "redis key dmfrec:bought:42" in before
    assert {f"redis key dmfrec:v:{v}:user:42" for v in shop.versions} <= set(before)
    assert "table: c4202@example.com" in before  # the pending event's raw payload

    s = shop.settings
    for name, value in {"DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url,
                        "BROKER_URL": s.broker_url, "MODEL_DIR": str(s.model_dir),
                        "GUEST_SALT": s.guest_salt}.items():
        monkeypatch.setenv(f"DMFREC_{name}", value)
    from config import get_settings

    get_settings.cache_clear()
    try:
        assert main(["erase", "--customer", "42"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "erased: 2 orders" in out and "4 events" in out and "2 artifact(s) rewritten" in out
    assert _traces(shop, r, "42", needles) == []
    _blank_rows_of_erased(shop)
    _others_intact(shop, r)
    # The guest is untouched by a customer's erasure.
    gina = guest_key(GUEST_EMAIL, shop.policy.guest_salt)
    assert r.smembers(publish.bought_key(gina)) == {"SKU-D"}


def test_admin_endpoint_erases_a_guest_by_email(shop, r):
    gina = guest_key(GUEST_EMAIL, shop.policy.guest_salt)
    needles = ["gina.guest@example.com"]
    assert _traces(shop, r, gina, needles)
    app = create_app(shop.settings)
    client = app.test_client()

    def post(body: dict | bytes, signed: bool = True):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = signing.signed_headers(SECRET, raw) if signed else {}
        return client.post("/admin/erase", data=raw, headers=headers,
                           content_type="application/json")

    assert post({"email": GUEST_EMAIL}, signed=False).status_code == 401
    bad = post({"email": GUEST_EMAIL, "customer_id": "42"})
    assert bad.status_code == 400 and "exactly one" in bad.get_json()["error"]
    assert post({"customer_id": "4x2"}).status_code == 400
    assert post(b"not json").status_code == 400
    assert _traces(shop, r, gina, needles)  # nothing changed by the refused requests

    done = post({"email": GUEST_EMAIL.upper()})
    assert done.status_code == 200
    summary = done.get_json()
    assert summary["status"] == "erased" and summary["artifacts"] == "queued"
    assert (summary["orders"], summary["events"]) == (1, 2)
    queued = [json.loads(m)["headers"]["task"] for m in r.lrange("ingest", 0, -1)]
    assert queued == ["worker.tasks.scrub_artifacts"]
    assert erasure.scrub_artifacts(shop) == 2  # what the queued task runs
    r.delete("ingest")
    assert _traces(shop, r, gina, needles) == []
    _blank_rows_of_erased(shop)
    _others_intact(shop, r)
    assert r.smembers(publish.bought_key("42")) == {"SKU-A", "SKU-B", "SKU-C"}  # not erased
    again = post({"email": GUEST_EMAIL})
    assert again.status_code == 200 and again.get_json()["orders"] == 0
    app.extensions["dmfrec"]["engine"].dispose()


def test_erasure_takes_the_analytics_of_the_customer_and_of_their_order_sessions(
        rt, r, record, make_event):
    """A guest's order ties its random browser session to the guest: erasing the guest also
    deletes the session's impressions and clicks and the order's attributed lines; a customer's
    erasure deletes what was reported under the customer id. Other sessions stay."""
    from datetime import timedelta

    from storage import erasure as store_erasure
    from storage.analytics import record_events
    from storage.analytics_models import AttributedLine, RecEvent
    from storage.ingestion import utcnow
    from worker import forget

    gina_session = "s.Z2luYWdpbmFnaW5hZ2luYQ.00112233445566778899"
    other_session = "s.b3RoZXJvdGhlcm90aGVyb3Ro.fedcba9876543210fedc"
    at = utcnow() - timedelta(hours=2)
    record_events(rt.engine, [
        {"rec_id": rec * 32, "sku": "SKU-D", "kind": kind, "position": 1, "subject": subject,
         "experiment": "", "arm": "dmf", "version": None, "at": at}
        for rec, subject in (("a", gina_session), ("b", other_session), ("c", "42"))
        for kind in ("impression", "click")])
    guest = make_event("gina-0", entity_id=4300, customer_id=None, lines={"SKU-D": 1})
    guest["order"]["customer_email"] = GUEST_EMAIL
    guest["order"]["session_id"] = gina_session
    live.process_event(rt, record(guest))
    live.process_event(rt, record(make_event("c42-0", entity_id=4200, customer_id=42,
                                             lines={"SKU-D": 2})))

    def left() -> tuple[list, list]:
        with rt.reading() as session:
            return (sorted(session.scalars(select(RecEvent.subject).distinct())),
                    sorted(session.scalars(select(AttributedLine.order_id))))

    assert left() == (sorted(["42", gina_session, other_session]), [4200, 4300])
    summary = forget.erase_now(rt.engine, r, rt.policy, email=GUEST_EMAIL.upper())
    assert (summary["orders"], summary["analytics"]) == (1, 3)  # 1 attributed, 2 events
    assert left() == (sorted(["42", other_session]), [4200])
    done = store_erasure.erase(rt.engine, "42", rt.policy)
    assert (done.orders, done.analytics) == (1, 3)
    assert left() == ([other_session], [])
