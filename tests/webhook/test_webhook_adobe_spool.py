"""The Adobe Commerce route with the database down: still ``{"op": "success"}`` at once, the
event spooled (Redis, or a local file when Redis is down too), recorded once the database is
back; nothing lost, nothing counted twice.

The database is the real MariaDB behind a port that is closed at first (connection refused,
as when the server is stopped) and then relays to the server (it is back).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from storage import schema
from storage.ingestion import process
from storage.models import Event, Order
from tests.conftest import free_port
from tests.storage.storage_dbs import MariaDB
from webhook import adobe, services, signing
from worker import spool
from worker.celery_app import make_celery

URL = "/v1/webhooks/adobe-commerce/order-placed"
ANSWER_WITHIN_S = 3.0  # the route's budget with the database down (connect refused here)


class Relay:
    """A TCP port that refuses connections until `open()`, then relays them to MariaDB."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self.server: socket.socket | None = None

    def open(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
def database() -> Iterator[tuple[str, Relay]]:
    """(URL through the relay, relay): a fresh migrated MariaDB database, reachable only
    once the relay is opened."""
    server = MariaDB()
    direct = server.new_database("spool_")
    schema.upgrade(direct)
    real = make_url(direct)
    relay = Relay((real.host, real.port or 3306))
    yield real.set(port=relay.port).render_as_string(hide_password=False), relay
    relay.close()
    server.drop_all()


@pytest.fixture(scope="module")
def key_pair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private, private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _post(client, private, order: dict) -> tuple[float, object]:
    raw = json.dumps({"eventName": "observer.sales_order_save_commit_after",
                      "data": {"order": order}}).encode()
    started = time.monotonic()
    response = client.post(URL, data=raw, content_type="application/json",
                           headers={adobe.SIGNATURE_HEADER: adobe.sign(private, raw)})
    return time.monotonic() - started, response


def _stored(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(Event.event_id, Event.status)).all())
    finally:
        engine.dispose()


def test_database_down_events_spool_to_redis_and_drain_once_back(
        make_app, settings, key_pair, make_event, database, r, queued):
    url, relay = database
    app = make_app(settings.model_copy(update={"database_url": url,
                                               "adobe_public_key": key_pair[1]}))
    client = app.test_client()
    orders = [make_event(entity_id=5000 + k, customer_id=70 + k)["order"] for k in range(3)]
    for order in [*orders, orders[0]]:  # the last one: Adobe delivering the same body again
        took, response = _post(client, key_pair[0], order)
        assert response.status_code == 200 and response.get_json() == {"op": "success"}
        assert took < ANSWER_WITHIN_S
    spooled = r.hgetall(spool.SPOOL_KEY)
    assert len(spooled) == 3 and all(k.startswith("adobe_") for k in spooled)
    assert queued() == []

    relay.open()  # the database is back: beat's drain_spool task does this
    celery = make_celery(settings, main="test-drain", fail_fast=True)
    with app.app_context():
        engine = services.engine()
        assert spool.drain_redis(engine, r, celery) == 3
        assert spool.drain_redis(engine, r, celery) == 0
    assert r.hlen(spool.SPOOL_KEY) == 0
    assert _stored(url) == dict.fromkeys(spooled, "pending")
    assert sorted(a[0] for a in queued()) == sorted(spooled)
    # Recorded exactly as the route would have: each one applies to its order.
    with app.app_context():
        outcomes = process(services.engine(), list(spooled))
        assert outcomes == dict.fromkeys(spooled, "applied")
        with services.engine().connect() as conn:
            assert sorted(conn.scalars(select(Order.entity_id))) == [5000, 5001, 5002]
    # The same event spooled again (a crash after recording, before removal) is no repeat.
    r.hset(spool.SPOOL_KEY, next(iter(spooled)), next(iter(spooled.values())))
    with app.app_context():
        assert spool.drain_redis(services.engine(), r, celery) == 1
    assert len(_stored(url)) == 3 and len(queued()) == 3


def test_database_and_redis_down_events_spool_to_a_file_drained_by_the_next_request(
        make_app, settings, key_pair, make_event, database, r, queued, closed_port_redis,
        secrets, tmp_path):
    url, relay = database
    folder = tmp_path / "spool"
    down = make_app(settings.model_copy(update={
        "database_url": url, "redis_url": closed_port_redis, "broker_url": closed_port_redis,
        "adobe_public_key": key_pair[1], "spool_dir": folder}))
    took, response = _post(down.test_client(), key_pair[0],
                           make_event(entity_id=6000, customer_id=90)["order"])
    assert response.status_code == 200 and response.get_json() == {"op": "success"}
    assert took < ANSWER_WITHIN_S
    files = list(folder.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["order"]["entity_id"] == 6000

    relay.open()  # database and Redis back; the same web host's next webhook drains its folder
    up = make_app(settings.model_copy(update={"database_url": url, "spool_dir": folder}))
    raw = json.dumps(make_event("evt-next", entity_id=6001)).encode()
    response = up.test_client().post("/v1/webhooks/magento/orders", data=raw,
                                     content_type="application/json",
                                     headers=signing.signed_headers(secrets["current"], raw))
    assert response.status_code == 202
    stored = _stored(url)
    assert len(stored) == 2 and "evt-next" in stored
    assert list(folder.glob("*.json")) == []
    assert sorted(a[0] for a in queued()) == sorted(stored)
