"""Standard Webhooks signatures (https://www.standardwebhooks.com), verified and produced.

A request carries three headers:

- ``webhook-id``: the message id, unique per event and unchanged across redeliveries;
- ``webhook-timestamp``: integer Unix seconds when the message was signed;
- ``webhook-signature``: one or more space-separated ``v1,<base64 signature>`` entries.

The signature is HMAC-SHA256 over ``f"{id}.{timestamp}.{body}"`` (the raw body bytes), base64
encoded. A secret written ``whsec_<base64>`` is the base64-decoded key (the Standard Webhooks
form); any other secret is used as its UTF-8 bytes (what a shop admin types into Magento).
Several secrets may be configured at once so a secret can be rotated without downtime, and a
sender may sign with several (several ``v1,`` entries). Timestamps more than the tolerance
(5 minutes by default) in the past or the future are refused, which bounds replays.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Iterable, Mapping

from config.secrets import WEBHOOK_SECRET_PREFIX as SECRET_PREFIX
from config.secrets import webhook_key as secret_key

__all__ = ["SECRET_PREFIX", "SignatureError", "secret_key", "sign", "signed_headers", "verify"]

DEFAULT_TOLERANCE_S = 300


class SignatureError(Exception):
    """The request is not signed by any configured secret (or is too old or too new)."""


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``v1,<base64>`` signature entry of one message under one secret."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secrets: str | Iterable[str],
    body: bytes,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed with each of `secrets`."""
    if isinstance(secrets, str):
        secrets = [secrets]
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if timestamp is None else int(timestamp)
    signature = " ".join(sign(s, msg_id, ts, body) for s in secrets)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Check the headers against `body`; return the webhook id, or raise `SignatureError`.

    `headers` must look names up case-insensitively (Flask's and Werkzeug's headers do).
    Every candidate is compared with `hmac.compare_digest`, never with ``==``.
    """
    keys = [secret_key(s) for s in secrets]
    if not keys:
        raise SignatureError("no webhook secret is configured")
    msg_id = headers.get("webhook-id") or ""
    ts_text = headers.get("webhook-timestamp") or ""
    sig_header = headers.get("webhook-signature") or ""
    if not msg_id or not ts_text or not sig_header:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    # Unix seconds in ASCII digits only: int() would also take "+5", "1_0" or other scripts'
    # digits, and a 400-digit value overflows the float comparison below.
    if not (ts_text.isascii() and ts_text.isdigit() and len(ts_text) <= 12):
        raise SignatureError("webhook-timestamp is not an integer")
    timestamp = int(ts_text)
    current = time.time() if now is None else now
    if abs(int(current) - timestamp) > tolerance_s:
        raise SignatureError("webhook-timestamp is outside the accepted window")

    offered: list[bytes] = []
    for entry in sig_header.split():
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            offered.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    content = f"{msg_id}.{ts_text}.".encode() + body
    for key in keys:
        expected = hmac.new(key, content, hashlib.sha256).digest()
        # Compare against every entry (no early exit on the first candidate's length or bytes).
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise SignatureError("no signature matches a configured secret")
