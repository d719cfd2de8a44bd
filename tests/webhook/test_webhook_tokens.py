"""Storefront tokens: the documented vector, expiry, forgery, binding to one customer."""

from __future__ import annotations

import time

import pytest

from webhook import tokens


def test_documented_vector():
    assert tokens.mint("s3cret", 42, expires=1700000000) == (
        "v1.NDI.1700000000.423ceec751ea61d026ef5aef19d5063150d56defcb126ddc0c41dd1091eb27b4"
    )
    claims = tokens.verify("s3cret", tokens.mint("s3cret", 42, expires=1700000000),
                           now=1700000000 - 60)
    assert claims == tokens.TokenClaims("42", 1700000000)


def test_ids_with_dots_and_unicode_round_trip():
    for customer in ("a.b.c", "ümlaut", "guest:3f2a"):
        assert tokens.verify("k", tokens.mint("k", customer)).customer_id == customer


def test_expired_token_refused():
    token = tokens.mint("k", 7, ttl_s=60, now=time.time() - 120)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify("k", token)


def test_long_lived_token_refused():
    token = tokens.mint("k", 7, ttl_s=86400)
    with pytest.raises(tokens.TokenError, match="lifetime"):
        tokens.verify("k", token, max_ttl_s=3600)


@pytest.mark.parametrize("mutate", [
    lambda t: t.replace("v1.", "v2.", 1),
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),
    lambda t: ".".join([*t.split(".")[:2], str(int(t.split(".")[2]) + 10), t.split(".")[3]]),
    lambda t: ".".join(["v1", "OTk", *t.split(".")[2:]]),  # customer 99 with 7's signature
    lambda t: t + ".x",
    lambda t: "",
])
def test_forged_tokens_refused(mutate):
    with pytest.raises(tokens.TokenError):
        tokens.verify("k", mutate(tokens.mint("k", 7)))


def test_other_secret_refused_and_empty_secret_unusable():
    with pytest.raises(tokens.TokenError):
        tokens.verify("other", tokens.mint("k", 7))
    with pytest.raises(tokens.TokenError):
        tokens.verify("", tokens.mint("k", 7))
    with pytest.raises(ValueError):
        tokens.mint("", 7)
