"""Adobe Commerce Webhooks: signature check, and the order payload turned into our snapshot.

Commerce signs with the key pair generated under Stores > Configuration > Adobe Services >
Webhooks: ``x-adobe-commerce-webhook-signature`` is the base64 RSA-SHA256 (PKCS#1 v1.5)
signature of the *base64-encoded* request body (that is what Adobe's reference verifier feeds
to ``crypto.createVerify('SHA256')``). Configure its public key as ``DMFREC_ADOBE_PUBLIC_KEY``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "x-adobe-commerce-webhook-signature"


@lru_cache(maxsize=4)
def _public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.replace("\\n", "\n").encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the Adobe Commerce webhook key must be an RSA public key")
    return key


def verify(public_key_pem: str, headers: Mapping[str, str], body: bytes) -> bool:
    """True when the signature header verifies against `body` with the configured key."""
    header = headers.get(SIGNATURE_HEADER) or ""
    try:
        signature = base64.b64decode(header, validate=True)
    except binascii.Error:
        return False
    if not signature:
        return False
    try:
        _public_key(public_key_pem).verify(
            signature, base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


def sign(private_key: rsa.RSAPrivateKey, body: bytes) -> str:
    """What Commerce sends in the signature header (tests and the demo use it)."""
    raw = private_key.sign(base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def _order(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The order inside an Adobe payload: ``data.order`` (observer events), ``order``, or the
    body itself when it is the order."""
    inner = data.get("data")
    if isinstance(inner, Mapping) and isinstance(inner.get("order"), Mapping):
        return inner["order"]
    if isinstance(data.get("order"), Mapping):
        return data["order"]
    return data


def to_event(data: Mapping[str, Any], body: bytes) -> dict[str, Any]:
    """Our snapshot event (storage.snapshot.SnapshotEvent's shape) from an Adobe order payload.

    Adobe sends the order as Magento's ``sales_order`` data with its ``items``; the field names
    are Magento's own, as in our snapshot. The event id is the body's hash, so a repeated
    delivery of the same body is recognised. An order without ``entity_id`` (an event fired
    before the order was saved) does not validate and is answered success and dropped.
    """
    order = dict(_order(data))
    if "currency" not in order and order.get("order_currency_code"):
        order["currency"] = order["order_currency_code"]
    items = order.get("items")
    if isinstance(items, Mapping):  # some payloads key items by id
        order["items"] = list(items.values())
    return {"event_id": "adobe_" + hashlib.sha256(body).hexdigest()[:40], "order": order}
