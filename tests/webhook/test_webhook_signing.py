"""Standard Webhooks signatures: the spec's vector, rotation, staleness, tampering."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook

from webhook import signing

# From the Standard Webhooks reference implementations.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_matches_the_spec_vector():
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


def test_verify_accepts_the_spec_vector():
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS),
               "webhook-signature": SPEC_SIG}
    assert signing.verify([SPEC_SECRET], headers, SPEC_BODY, now=SPEC_TS + 10) == SPEC_ID


def test_signed_headers_verify_with_the_reference_library():
    body = b'{"order": 1}'
    headers = signing.signed_headers(SPEC_SECRET, body)
    Webhook(SPEC_SECRET).verify(body, headers)  # raises on mismatch


def test_raw_secret_is_used_as_utf8_bytes():
    body = b"{}"
    headers = signing.signed_headers("plain-admin-secret", body)
    assert signing.verify(["plain-admin-secret"], headers, body)
    # Same key expressed the Standard Webhooks way.
    encoded = "whsec_" + base64.b64encode(b"plain-admin-secret").decode()
    assert signing.verify([encoded], headers, body)


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_stale_or_future_timestamps_are_refused(skew):
    body = b"{}"
    headers = signing.signed_headers("k", body, timestamp=int(time.time()) + skew)
    with pytest.raises(signing.SignatureError, match="window"):
        signing.verify(["k"], headers, body)


@pytest.mark.parametrize("skew", [-299, 299])
def test_timestamps_within_tolerance_pass(skew):
    body = b"{}"
    headers = signing.signed_headers("k", body, timestamp=int(time.time()) + skew)
    assert signing.verify(["k"], headers, body)


def test_rotation_old_and_new_secret_both_accepted():
    body = b'{"a": 1}'
    configured = ["new-secret", "old-secret"]
    for sender in ("old-secret", "new-secret"):
        assert signing.verify(configured, signing.signed_headers(sender, body), body)
    # A sender mid-rotation signs with both; a receiver knowing either accepts.
    both = signing.signed_headers(["old-secret", "new-secret"], body)
    assert len(both["webhook-signature"].split()) == 2
    assert signing.verify(["new-secret"], both, body)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) - 1)}, b),
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,not-base64!"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "soon"}, b),
    ],
)
def test_tampering_is_refused(tamper):
    body = b'{"qty": 1}'
    headers, changed = tamper(signing.signed_headers("k", body), body)
    with pytest.raises(signing.SignatureError):
        signing.verify(["k"], headers, changed)


def test_wrong_secret_and_no_secret_refused():
    body = b"{}"
    headers = signing.signed_headers("k", body)
    with pytest.raises(signing.SignatureError):
        signing.verify(["other"], headers, body)
    with pytest.raises(signing.SignatureError, match="no webhook secret"):
        signing.verify([], headers, body)
