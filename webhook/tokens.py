"""Short-lived storefront tokens: one customer's right to read that customer's list.

The storefront (Magento) mints a token for the logged-in customer and the browser sends it
with ``Authorization: Bearer <token>`` (or ``?token=<token>``). Without it anybody could read
any customer's recommendations by guessing ids.

Format (version 1), ASCII, four dot-separated fields::

    v1.<customer>.<expires>.<signature>

- ``customer``: the customer id as a string (Magento: the decimal ``customer_id``), UTF-8,
  then base64url without ``=`` padding (so ids containing dots are unambiguous);
- ``expires``: Unix time in whole seconds (decimal, no sign) after which the token is refused;
- ``signature``: lowercase hex HMAC-SHA256, keyed with the shared secret
  (``DMFREC_TOKEN_SECRET``, its UTF-8 bytes), over the first three fields joined by dots,
  i.e. over ``"v1.<customer>.<expires>"`` exactly as it appears in the token.

Tokens whose ``expires`` lies more than ``DMFREC_TOKEN_MAX_TTL_S`` (default 3600) in the future
are refused too, so a leaked long-lived token is useless. Minting it in PHP::

    $payload = 'v1.' . rtrim(strtr(base64_encode((string) $customerId), '+/', '-_'), '=')
             . '.' . (time() + 600);
    $token = $payload . '.' . hash_hmac('sha256', $payload, $secret);

Test vector: secret ``s3cret``, customer ``42``, expires ``1700000000``::

    v1.NDI.1700000000.423ceec751ea61d026ef5aef19d5063150d56defcb126ddc0c41dd1091eb27b4
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass

VERSION = "v1"


class TokenError(Exception):
    """The token is missing, malformed, forged or expired (answered 401)."""


@dataclass(frozen=True)
class TokenClaims:
    customer_id: str
    expires: int


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def mint(secret: str, customer_id: str | int, ttl_s: int = 600, *, now: float | None = None,
         expires: int | None = None) -> str:
    """A token for `customer_id`, valid for `ttl_s` seconds (or until `expires`)."""
    if not secret:
        raise ValueError("a token secret is required")
    if expires is None:
        expires = int(time.time() if now is None else now) + int(ttl_s)
    payload = f"{VERSION}.{_b64url(str(customer_id).encode())}.{int(expires)}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: str, token: str, *, max_ttl_s: int = 3600, now: float | None = None
           ) -> TokenClaims:
    """The claims of a genuine, unexpired token; raise `TokenError` otherwise."""
    if not secret:
        raise TokenError("storefront tokens are not configured")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise TokenError("malformed token")
    _, customer_b64, expires_text, signature = parts
    payload = f"{VERSION}.{customer_b64}.{expires_text}"
    # Bytes: compare_digest refuses non-ASCII str (a TypeError, i.e. a 500, not a 401).
    if not hmac.compare_digest(_signature(secret, payload).encode(),
                               signature.lower().encode("utf-8", "replace")):
        raise TokenError("bad token signature")
    if not (expires_text.isascii() and expires_text.isdigit()):  # int() refuses "²"
        raise TokenError("malformed token expiry")
    expires = int(expires_text)
    current = time.time() if now is None else now
    if expires <= current:
        raise TokenError("token expired")
    if expires > current + max_ttl_s:
        raise TokenError("token lifetime exceeds the allowed maximum")
    try:
        customer_id = _unb64url(customer_b64).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise TokenError("malformed token customer") from None
    return TokenClaims(customer_id=customer_id, expires=expires)
