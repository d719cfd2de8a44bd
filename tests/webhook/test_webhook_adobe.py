"""POST /v1/webhooks/adobe-commerce/order-placed: RSA-verified, answers {"op": "success"}."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from webhook import adobe

URL = "/v1/webhooks/adobe-commerce/order-placed"


@pytest.fixture(scope="module")
def key_pair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, pem


@pytest.fixture
def adobe_client(make_app, settings, key_pair):
    return make_app(settings.model_copy(update={"adobe_public_key": key_pair[1]})).test_client()


def _post(client, body: dict, private=None, signature: str | None = None):
    raw = json.dumps(body).encode()
    if signature is None:
        signature = adobe.sign(private, raw)
    return client.post(URL, data=raw, content_type="application/json",
                       headers={adobe.SIGNATURE_HEADER: signature})


def test_signed_order_is_recorded_and_answered_success(adobe_client, key_pair, make_event,
                                                       recorded, queued):
    order = make_event()["order"]
    body = {"eventName": "observer.sales_order_save_commit_after", "data": {"order": order}}
    response = _post(adobe_client, body, key_pair[0])
    assert response.status_code == 200
    assert response.get_json() == {"op": "success"}
    rows = recorded()
    assert len(rows) == 1 and rows[0][0].startswith("adobe_") and rows[0][1] == "pending"
    assert queued() == [[rows[0][0]]]
    # The same delivery again is recognised by its body hash.
    assert _post(adobe_client, body, key_pair[0]).get_json() == {"op": "success"}
    assert len(recorded()) == 1


def test_bad_signature_is_401_and_writes_nothing(adobe_client, key_pair, make_event, recorded):
    body = {"data": {"order": make_event()["order"]}}
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _post(adobe_client, body, other).status_code == 401
    assert _post(adobe_client, body, signature="bm90LWEtc2lnbmF0dXJl").status_code == 401
    assert _post(adobe_client, body, signature="").status_code == 401
    assert recorded() == []


def test_unusable_payload_still_answers_success_and_writes_nothing(adobe_client, key_pair,
                                                                   make_event, recorded):
    order = make_event()["order"]
    order.pop("entity_id")  # fired before the order was saved: nothing to key it by
    response = _post(adobe_client, {"data": {"order": order}}, key_pair[0])
    assert response.get_json() == {"op": "success"}
    assert recorded() == []


def test_not_configured_is_503(client, make_event, recorded):
    response = client.post(URL, json={"data": {"order": make_event()["order"]}})
    assert response.status_code == 503
    assert recorded() == []
