"""POST /v1/webhooks/magento/orders: every rejection writes nothing; acceptance records once."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from storage.models import Event
from webhook import services, signing


def test_valid_event_is_recorded_answered_202_and_enqueued(post_order, make_event, recorded,
                                                           queued, r):
    response = post_order(make_event("evt-1"))
    assert response.status_code == 202
    assert response.get_json() == {"status": "accepted", "event_id": "evt-1"}
    assert recorded() == [("evt-1", "pending")]
    assert queued() == [["evt-1"]]
    # No enqueue marker per event (a Redis write saved): beat's sweep leaves pending events
    # alone while the ingest queue holds messages (tests/worker/test_worker_live.py).
    assert r.exists("dmfrec:enqueued:evt-1") == 0


def test_repeat_is_answered_200_and_not_recorded_twice(post_order, make_event, recorded, queued):
    body = make_event("evt-1")
    assert post_order(body).status_code == 202
    again = post_order(body)  # a redelivery: new webhook-id and timestamp, same event
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    assert recorded() == [("evt-1", "pending")]
    assert queued() == [["evt-1"]]


def test_a_resend_with_another_body_changes_nothing_stored(post_order, make_event, app,
                                                           queued):
    """The unique event id alone refuses a resend (no SELECT first): the stored row, its
    payload and receipt time included, stays exactly as the first delivery left it."""
    first = make_event("evt-1")
    assert post_order(first).status_code == 202
    with app.app_context(), services.engine().connect() as conn:
        before = conn.execute(select(Event.__table__)).all()
    changed = make_event("evt-1", state="canceled")
    again = post_order(changed)
    assert (again.status_code, again.get_json()) == (
        200, {"status": "duplicate", "event_id": "evt-1"})
    with app.app_context(), services.engine().connect() as conn:
        assert conn.execute(select(Event.__table__)).all() == before
    assert queued() == [["evt-1"]]


def test_rotated_secret_still_accepted(post_order, make_event, recorded, secrets):
    assert post_order(make_event("evt-old"), secret=secrets["old"]).status_code == 202
    assert recorded() == [("evt-old", "pending")]


@pytest.mark.parametrize("case", ["wrong-secret", "stale", "future", "unsigned", "tampered"])
def test_bad_signatures_are_401_and_write_nothing(case, post_order, make_event, recorded,
                                                  queued, secrets):
    body = make_event()
    if case == "wrong-secret":
        response = post_order(body, secret="not-ours")
    elif case == "stale":
        response = post_order(body, timestamp=int(time.time()) - 301)
    elif case == "future":
        response = post_order(body, timestamp=int(time.time()) + 301)
    elif case == "unsigned":
        response = post_order(body, headers={})
    else:
        raw = json.dumps(body).encode()
        headers = signing.signed_headers(secrets["current"], raw)
        response = post_order(raw.replace(b'"qty_ordered": 2', b'"qty_ordered": 9'),
                              headers=headers)
    assert response.status_code == 401
    assert "signature" in response.get_json()["error"]
    assert recorded() == []
    assert queued() == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["order"]["items"][0].pop("sku"), "order.items.0.sku"),
        (lambda b: b["order"]["items"][0].update(qty_refunded=-1), "order.items.0.qty_refunded"),
        (lambda b: b["order"].update(state="shipped"), "order.state"),
        (lambda b: b.pop("event_id"), "event_id"),
        (lambda b: b["order"].update(items=[]), "order.items"),
        (lambda b: b["order"].update(session_id="s.a b.00"), "order.session_id"),
        (lambda b: b["order"].update(session_id="s." + "a" * 61 + ".0"), "order.session_id"),
    ],
)
def test_malformed_snapshot_is_400_naming_the_field(mutate, field, post_order, make_event,
                                                    recorded, queued):
    body = make_event()
    mutate(body)
    response = post_order(body)
    assert response.status_code == 400
    payload = response.get_json()
    assert field in payload["error"]
    assert field in [f["field"] for f in payload["fields"]]
    assert recorded() == []
    assert queued() == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b""])
def test_non_object_bodies_are_400(raw, post_order, recorded):
    response = post_order(raw)
    assert response.status_code == 400
    assert recorded() == []


def test_too_large_is_413_and_writes_nothing(post_order, make_event, recorded, queued):
    body = make_event()
    body["padding"] = "x" * 25_000  # settings.max_body_bytes is 20,000 in these tests
    response = post_order(body)
    assert response.status_code == 413
    assert recorded() == []
    assert queued() == []


def test_wrong_content_type_is_415_and_writes_nothing(post_order, make_event, recorded, queued):
    response = post_order(make_event(), content_type="text/plain")
    assert response.status_code == 415
    assert recorded() == []
    assert queued() == []


def test_broker_down_still_records_202_quickly(make_app, settings, make_event, secrets,
                                                closed_port_redis):
    app = make_app(settings.model_copy(update={"broker_url": closed_port_redis}))
    raw = json.dumps(make_event("evt-nobroker")).encode()
    started = time.perf_counter()
    response = app.test_client().post(
        "/v1/webhooks/magento/orders", data=raw, content_type="application/json",
        headers=signing.signed_headers(secrets["current"], raw),
    )
    assert response.status_code == 202
    assert time.perf_counter() - started < 2.0
    with app.app_context(), services.engine().connect() as conn:
        rows = conn.execute(select(Event.event_id, Event.status)).all()
    assert [tuple(r) for r in rows] == [("evt-nobroker", "pending")]


def test_database_down_is_503_so_the_sender_retries(make_app, settings, make_event, secrets):
    app = make_app(settings.model_copy(
        update={"database_url": "mysql+pymysql://root@127.0.0.1:1/test"}))
    raw = json.dumps(make_event()).encode()
    response = app.test_client().post(
        "/v1/webhooks/magento/orders", data=raw, content_type="application/json",
        headers=signing.signed_headers(secrets["current"], raw),
    )
    assert response.status_code == 503
    assert "database" in response.get_json()["error"]


def test_logs_are_json_and_carry_the_event_id(post_order, make_event):
    import io
    import logging

    from config.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("dmfrec")
    logger.addHandler(handler)
    try:
        assert post_order(make_event("evt-log")).status_code == 202
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    recorded_line = next(line for line in lines if line["message"] == "event recorded")
    assert recorded_line["event_id"] == "evt-log"
    assert recorded_line["source"] == "magento"
    assert recorded_line["request_id"]


@pytest.fixture
def mariadb_url():
    """A database of its own on the real MariaDB (tables created here, dropped after)."""
    from sqlalchemy import create_engine, text

    server = create_engine("mysql+pymysql://root@127.0.0.1:3306/test")
    name = "dmfrec_webhook_test"
    with server.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    url = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    engine = create_engine(url)
    from storage.models import Base

    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with server.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    server.dispose()


def test_records_once_on_mariadb(make_app, settings, mariadb_url, make_event, secrets, queued):
    app = make_app(settings.model_copy(update={"database_url": mariadb_url}))
    client = app.test_client()
    raw = json.dumps(make_event("evt-maria")).encode()

    def post():
        return client.post("/v1/webhooks/magento/orders", data=raw,
                           content_type="application/json",
                           headers=signing.signed_headers(secrets["current"], raw))

    assert post().status_code == 202
    assert post().status_code == 200
    with app.app_context(), services.engine().connect() as conn:
        rows = conn.execute(select(Event.event_id, Event.status)).all()
    assert [tuple(r) for r in rows] == [("evt-maria", "pending")]
    assert queued() == [["evt-maria"]]
