"""Recommendation ids and guest session ids: HMACs, so the browser cannot forge either.

A recommendation id is the first 32 hex digits of HMAC-SHA256 over what was served: the
subject (customer id or guest session), experiment, arm, model version, UTC day and the SKUs
in order. The answer carries those fields; an impression or click report sends them back and
is refused unless they hash to its id, so a report can only name SKUs, positions and an arm
that were really served to that subject. The id is deterministic: a reload that serves the
same list the same day gets the same id, and its impressions are not counted again.

A guest session id is ``s.<random>.<mac>``, minted with a guest's first answer and sent back
by the widget with later requests and reports (sessionStorage: one browser session).

The key is derived from DMFREC_TOKEN_SECRET (a separate purpose string), so no new secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence

SESSION_PREFIX = "s."


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"dmfrec analytics v1", hashlib.sha256).digest()


def rec_id(secret: str, subject: str, experiment: str, arm: str, version: str | None,
           day: str, skus: Sequence[str]) -> str:
    """The id of the list `skus` served to `subject` on `day` (ISO date, UTC)."""
    fields = json.dumps([subject, experiment, arm, version, day, list(skus)],
                        ensure_ascii=False, separators=(",", ":"))
    return hmac.new(_key(secret), fields.encode(), hashlib.sha256).hexdigest()[:32]


def _session_mac(secret: str, nonce: str) -> str:
    return hmac.new(_key(secret), f"session:{nonce}".encode(), hashlib.sha256).hexdigest()[:20]


def mint_session(secret: str) -> str:
    nonce = secrets.token_urlsafe(16)
    return f"{SESSION_PREFIX}{nonce}.{_session_mac(secret, nonce)}"


def valid_session(secret: str, session: str | None) -> bool:
    """Whether `session` is a session id this service minted."""
    if not session or len(session) > 64 or not session.startswith(SESSION_PREFIX):
        return False
    nonce, _, mac = session[len(SESSION_PREFIX):].partition(".")
    return bool(nonce) and hmac.compare_digest(
        _session_mac(secret, nonce).encode(), mac.encode("utf-8", "replace"))


def is_session(subject: str) -> bool:
    return subject.startswith(SESSION_PREFIX)
