"""What a configured secret is worth: the HMAC key of a webhook secret, and the minimum size.

Both the settings' validators (a weak or malformed secret refuses to start) and the webhook's
signature code use `webhook_key`, so a secret is read one way everywhere.
"""

from __future__ import annotations

import base64
import binascii

WEBHOOK_SECRET_PREFIX = "whsec_"
# Standard Webhooks secrets are 24 to 64 random bytes; less is guessable offline from one
# signed request.
MIN_SECRET_BYTES = 24


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret: ``whsec_<base64>`` decoded, otherwise its UTF-8 bytes.

    Raises ValueError when a ``whsec_`` secret is not base64 after the prefix.
    """
    if secret.startswith(WEBHOOK_SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX):], validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode()
