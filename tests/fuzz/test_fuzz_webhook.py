"""Hypothesis against the webhook and storefront routes (Flask test client, real app factory,
MariaDB and Redis): malformed bodies and headers, forged/stale/replayed signatures, forged
tokens. Every answer must be below 500, and every rejected request must write nothing.

The high-volume part uses the test client (gunicorn would be ~3x slower per case); the real
HTTP path is covered by test_fuzz_api.py and test_fuzz_skus.py.
"""

from __future__ import annotations

import base64
import hmac
import json
import string
import time
from typing import Any

import pytest
from fuzz_support import (
    ADOBE_KEY,
    CASES,
    FUZZ,
    MAX_BODY,
    SECRET,
    TOKEN_SECRET,
    TOLERANCE_S,
    valid_event,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.snapshot import SnapshotError, parse_event
from webhook import adobe, signing, tokens
from worker import events

MODULE = "webhook"
DATABASE = "sqlite"  # a fresh file (see conftest.fuzz_settings); MariaDB: the other modules
N_UNSIGNED, N_MALFORMED, N_ADOBE, N_TOKENS, N_QUERY = 3_000, 1_500, 600, 2_500, 1_000
MIN_CASES = 8_500
MAGENTO = "/v1/webhooks/magento/orders"
ADOBE = "/v1/webhooks/adobe-commerce/order-placed"

# Header values as HTTP can carry them: Latin-1 without control characters.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                    blacklist_characters="\x7f"), max_size=80)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8",
                                 "text/plain", "application/x-www-form-urlencoded",
                                 "APPLICATION/JSON", "application/jsonx", ""])
# Timestamps: near now, stale, future, huge (beyond float range) and garbage.
timestamps = st.one_of(
    st.integers(-2 * TOLERANCE_S, 2 * TOLERANCE_S).map(lambda d: str(int(time.time()) + d)),
    st.integers(-(10**400), 10**400).map(str), header_text)


def _post(world, raw: bytes, headers: dict[str, str], content_type: str, path: str = MAGENTO):
    with world.app.test_client() as client:
        return client.post(path, data=raw, headers=headers, content_type=content_type)


def _check(world, response, before: tuple) -> None:
    """No 5xx; a rejected request leaves database and Redis as they were; JSON errors."""
    CASES[MODULE] += 1
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    world.last = world.state()
    if response.status_code >= 400:
        assert world.last == before
        assert "error" in response.get_json()


# --------------------------------------------------------------- unsigned, forged, garbage


@settings(FUZZ, max_examples=N_UNSIGNED)
@given(body=st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()),
       msg_id=st.none() | header_text, ts=st.none() | timestamps,
       signature=st.none() | header_text | st.binary(min_size=32, max_size=32).map(
           lambda b: "v1," + base64.b64encode(b).decode()),
       content_type=content_types)
def test_unsigned_or_forged_requests_are_401(world, body, msg_id, ts, signature, content_type):
    headers = {k: v for k, v in (("webhook-id", msg_id), ("webhook-timestamp", ts),
                                 ("webhook-signature", signature)) if v is not None}
    before = world.before()
    response = _post(world, body, headers, content_type)
    _check(world, response, before)
    assert response.status_code == 401


# ------------------------------------------------------------- signed but malformed bodies


def _mutate(event: dict, path: list[str | int], value: Any, delete: bool) -> dict:
    """`event` with the value at `path` replaced by `value` (or deleted)."""
    node = event
    for key in path[:-1]:
        node = node[key]
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return event


PATHS = [["event_id"], ["occurred_at"], ["order"], ["products"], ["order", "entity_id"],
         ["order", "increment_id"], ["order", "store_id"], ["order", "customer_id"],
         ["order", "customer_email"], ["order", "customer_is_guest"], ["order", "state"],
         ["order", "status"], ["order", "created_at"], ["order", "updated_at"],
         ["order", "currency"], ["order", "grand_total"], ["order", "items"],
         *[["order", "items", 0, f] for f in (
             "item_id", "parent_item_id", "product_id", "sku", "name", "product_type",
             "qty_ordered", "qty_canceled", "qty_refunded", "qty_invoiced", "price",
             "row_total")]]
odd_values = st.one_of(
    json_values, st.sampled_from(["", " ", "1e400", "NaN", "-1", "0", "1.00005", "2999-13-40",
                                  "2024-01-01 00:00:00", "processing", "\u0000", "\u202e",
                                  "\ud83d\ude00", "x" * 300, 2**63, -(2**63), 1e308]))


@settings(FUZZ, max_examples=N_MALFORMED)
@given(path=st.sampled_from(PATHS), value=odd_values, delete=st.booleans(),
       content_type=content_types, whole=st.none() | json_values | st.binary(max_size=200))
def test_signed_malformed_bodies_are_400_or_accepted(world, path, value, delete,
                                                     content_type, whole):
    if whole is None:
        event = _mutate(valid_event(), path, value, delete)
        raw = json.dumps(event).encode()
    else:
        raw = whole if isinstance(whole, bytes) else json.dumps(whole).encode()
    headers = signing.signed_headers(SECRET, raw)
    # A sent task that has not started (no worker runs here) holds the wake flag; renewed, it
    # cannot expire during the request, so whether this event sends a message is known.
    waiting = world.redis.pexpire(events.WAKE_KEY, events.WAKE_TTL_MS)
    queue = world.redis.llen("ingest")
    before = world.before()
    response = _post(world, raw, headers, content_type)
    _check(world, response, before)
    # The oracle: 415 for another media type, else storage's own validator decides.
    if content_type.split(";")[0].strip().lower() != "application/json":
        assert response.status_code == 415
        return
    try:
        parse_event(raw)
    except SnapshotError as exc:
        assert response.status_code == 400
        fields = [f["field"] for f in response.get_json()["fields"]]
        assert fields == [loc or "(body)" for loc, _ in exc.errors]
        return
    assert response.status_code in (200, 202)
    if response.status_code == 202:
        assert world.last[0]["events"] == before[0]["events"] + 1
        if waiting:  # recorded, no message of its own: that task's drain claims it
            assert world.redis.llen("ingest") == queue
        else:
            assert response.get_json()["event_id"] in world.redis.lindex("ingest", 0)
        assert world.redis.exists(events.WAKE_KEY)


def test_body_over_the_limit_is_413_and_writes_nothing(world):
    raw = json.dumps(valid_event() | {"pad": "x" * MAX_BODY}).encode()
    for headers in (signing.signed_headers(SECRET, raw), {}):
        before = world.before()
        response = _post(world, raw, headers, "application/json")
        _check(world, response, before)
        assert response.status_code == 413


# ---------------------------------------------- replayed, stale and forged signatures


def test_replay_after_success_changes_nothing(world):
    raw = json.dumps(valid_event()).encode()
    headers = signing.signed_headers(SECRET, raw)
    first = _post(world, raw, headers, "application/json")
    assert first.status_code == 202
    after_first = world.state()
    for again in (headers, signing.signed_headers(SECRET, raw)):  # same id, then a new id
        response = _post(world, raw, again, "application/json")
        _check(world, response, after_first)
        assert response.status_code == 200 and response.get_json()["status"] == "duplicate"
        assert world.last == after_first  # no second row, no second ingest message


def test_replayed_headers_on_another_body_are_401(world):
    raw = json.dumps(valid_event()).encode()
    headers = signing.signed_headers(SECRET, raw)
    assert _post(world, raw, headers, "application/json").status_code == 202
    other = json.dumps(valid_event()).encode()
    before = world.before()
    response = _post(world, other, headers, "application/json")
    _check(world, response, before)
    assert response.status_code == 401


@pytest.mark.parametrize("offset", [-TOLERANCE_S - 1, TOLERANCE_S + 1, -86_400, 86_400 * 365])
def test_stale_or_future_timestamps_are_401(world, offset):
    raw = json.dumps(valid_event()).encode()
    headers = signing.signed_headers(SECRET, raw, timestamp=int(time.time()) + offset)
    before = world.before()
    response = _post(world, raw, headers, "application/json")
    _check(world, response, before)
    assert response.status_code == 401
    assert "outside the accepted window" in response.get_json()["error"]


def _forgeries(raw: bytes) -> dict[str, dict[str, str]]:
    good = signing.signed_headers(SECRET, raw)
    sig = good["webhook-signature"]
    return {
        "other secret": signing.signed_headers("whsec_" + "b3RoZXItc2VjcmV0", raw),
        "plain secret text": signing.signed_headers(SECRET.encode().hex(), raw),
        "other id": good | {"webhook-id": good["webhook-id"] + "x"},
        "other timestamp": good | {"webhook-timestamp": str(int(good["webhook-timestamp"]) - 1)},
        "truncated": good | {"webhook-signature": sig[:-4]},
        "v2 scheme": good | {"webhook-signature": "v2," + sig[3:]},
        "bit flipped": good | {"webhook-signature": sig[:-6] + ("A" if sig[-6] != "A" else "B")
                               + sig[-5:]},
        "no signature": {k: v for k, v in good.items() if k != "webhook-signature"},
        "empty": good | {"webhook-signature": ""},
    }


@pytest.mark.parametrize("kind", list(_forgeries(b"{}")))
def test_forged_signatures_are_401(world, kind):
    raw = json.dumps(valid_event()).encode()
    before = world.before()
    response = _post(world, raw, _forgeries(raw)[kind], "application/json")
    _check(world, response, before)
    assert response.status_code == 401


@pytest.mark.parametrize("stamp", ["0001-01-01T00:01:00+01:00", "9999-12-31T23:59:00-01:00"])
def test_out_of_range_offset_timestamp_is_400(world, stamp):
    """Converting such a timestamp to UTC overflows; it once escaped validation as a 500
    (storage.snapshot._utc). Found by test_fuzz_api.py."""
    event = valid_event()
    event["order"]["updated_at"] = stamp
    raw = json.dumps(event).encode()
    before = world.before()
    response = _post(world, raw, signing.signed_headers(SECRET, raw), "application/json")
    _check(world, response, before)
    assert response.status_code == 400


def test_huge_timestamp_is_401(world):
    """A webhook-timestamp beyond float range once crashed signing.verify (a 500)."""
    raw = json.dumps(valid_event()).encode()
    headers = signing.signed_headers(SECRET, raw) | {"webhook-timestamp": "1" + "0" * 400}
    before = world.before()
    response = _post(world, raw, headers, "application/json")
    _check(world, response, before)
    assert response.status_code == 401


# ------------------------------------------------------------------------ Adobe Commerce


adobe_orders = st.dictionaries(
    st.sampled_from(["entity_id", "increment_id", "state", "created_at", "updated_at", "items",
                     "customer_id", "order_currency_code"]), json_values, max_size=8)
adobe_payloads = json_values | adobe_orders.map(lambda o: {"data": {"order": o}})


@settings(FUZZ, max_examples=N_ADOBE)
@given(payload=adobe_payloads, signed=st.booleans())
def test_adobe_payloads_never_fail_checkout(world, payload, signed):
    raw = json.dumps(payload).encode()
    headers = {adobe.SIGNATURE_HEADER: adobe.sign(ADOBE_KEY, raw) if signed else "AAAA"}
    before = world.before()
    response = _post(world, raw, headers, "application/json", path=ADOBE)
    _check(world, response, before)
    if not signed:
        assert response.status_code == 401
        return
    assert response.status_code == 200 and response.get_json() == {"op": "success"}
    try:
        parse_event(adobe.to_event(payload if isinstance(payload, dict) else {}, raw))
    except (ValueError, SnapshotError):
        assert world.last == before  # unusable payload: answered success, nothing written


def test_adobe_out_of_range_offset_timestamp_answers_success(world):
    """As test_out_of_range_offset_timestamp_is_400, on the Adobe route: a 500 there could
    block Commerce's checkout."""
    order = valid_event()["order"] | {"updated_at": "9999-12-31T23:59:00-01:00"}
    raw = json.dumps({"data": {"order": order}}).encode()
    before = world.before()
    response = _post(world, raw, {adobe.SIGNATURE_HEADER: adobe.sign(ADOBE_KEY, raw)},
                     "application/json", path=ADOBE)
    assert response.status_code == 200, response.status_code
    assert response.get_json() == {"op": "success"} and world.state() == before


# ------------------------------------------------------------------ storefront tokens


def _get(world, path: str, **kwargs):
    with world.app.test_client() as client:
        return client.get(path, **kwargs)


token_part = st.text(st.characters(min_codepoint=0x21, exclude_categories=("Cs",)), max_size=70)


@settings(FUZZ, max_examples=N_TOKENS)
@given(customer=st.text(string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=12),
       token=st.one_of(token_part,
                       st.tuples(token_part, token_part, token_part).map(
                           lambda t: "v1." + ".".join(t))),
       via_header=st.booleans(), limit=st.none() | st.text(max_size=4))
def test_random_tokens_are_401(world, customer, token, via_header, limit):
    args = {} if limit is None else {"limit": limit}
    kwargs: dict[str, Any] = {"query_string": args}
    if via_header:
        kwargs["headers"] = {"Authorization": f"Bearer {token}"}
    else:
        args["token"] = token
    before = world.before()
    response = _get(world, f"/v1/customers/{customer}/recommendations", **kwargs)
    _check(world, response, before)
    assert response.status_code == 401
    assert world.last == before  # reads never write


def _signed(payload: str) -> str:
    return f"{payload}.{hmac.new(TOKEN_SECRET.encode(), payload.encode(), 'sha256').hexdigest()}"


def _token_cases() -> dict[str, tuple[str, str, int]]:
    """name -> (path customer, token, expected status)."""
    now = int(time.time())
    good = tokens.mint(TOKEN_SECRET, "42")
    prefix, customer, expires, signature = good.split(".")
    return {
        "genuine": ("42", good, 200),
        "expired": ("42", tokens.mint(TOKEN_SECRET, "42", expires=now - 1), 401),
        "too long-lived": ("42", tokens.mint(TOKEN_SECRET, "42", ttl_s=10 * 3600), 401),
        "other secret": ("42", tokens.mint("not-the-secret", "42"), 401),
        "other customer": ("43", good, 403),
        "customer swapped": ("43", ".".join([prefix, "NDM", expires, signature]), 401),
        "expiry extended": ("42", ".".join([prefix, customer, str(now + 3000), signature]), 401),
        "signature flipped": ("42", good[:-1] + ("0" if good[-1] != "0" else "1"), 401),
        "v2": ("42", "v2" + good[2:], 401),
        # Genuinely signed, but the expiry in other scripts' digits (int() takes "١٧", not "²").
        "superscript expiry": ("42", _signed(f"{prefix}.{customer}.{now + 60}²"), 401),
        "arabic-indic expiry": ("42", _signed(f"{prefix}.{customer}.١٧٠٠٠٠٠٠٠٠"), 401),
        "missing": ("42", "", 401),
    }


@pytest.mark.parametrize("case", list(_token_cases()))
@pytest.mark.parametrize("via_header", [True, False])
def test_tokens(world, case, via_header):
    customer, token, expected = _token_cases()[case]
    kwargs: dict[str, Any] = (
        {"headers": {"Authorization": f"Bearer {token}"}} if via_header
        else {"query_string": {"token": token}})
    before = world.before()
    response = _get(world, f"/v1/customers/{customer}/recommendations", **kwargs)
    _check(world, response, before)
    assert response.status_code == expected, response.get_json()
    if expected == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="dmfrec"'


# ------------------------------------------------------------------ storefront query parameters

LIST_PATHS = ["/v1/popular", "/v1/items/SKU-A/similar", "/v1/customers/42/recommendations"]
# Digits of every script, superscripts, fractions, roman numerals: str.isdigit takes some of
# them, int() others; only ASCII digits are a limit.
unicode_digits = st.text(st.characters(categories=("Nd", "No", "Nl")), min_size=1, max_size=4)
limits = (st.none() | unicode_digits | st.integers(-3, 60).map(str) | st.text(max_size=5)
          | st.tuples(st.integers(0, 60).map(str), unicode_digits).map("".join))


def _valid_limit(limit: str | None, maximum: int) -> bool:
    return limit is None or (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= maximum)


@settings(FUZZ, max_examples=N_QUERY)
@given(path=st.sampled_from(LIST_PATHS), limit=limits,
       exclude=st.none() | st.text(max_size=30) | unicode_digits)
def test_query_parameters_are_400_naming_them_never_500(world, path, limit, exclude):
    args = {k: v for k, v in (("limit", limit), ("exclude", exclude)) if v is not None}
    if "customers" in path:
        args["token"] = tokens.mint(TOKEN_SECRET, "42")
    before = world.before()
    response = _get(world, path, query_string=args)
    _check(world, response, before)
    if _valid_limit(limit, world.settings.publish_n):
        assert response.status_code == 200, response.get_json()
    else:
        assert response.status_code == 400
        assert response.get_json()["error"].startswith("invalid query parameter limit")


def test_non_ascii_token_is_401(world):
    """hmac.compare_digest raises TypeError on non-ASCII str; tokens.verify compares bytes
    (it once answered 500)."""
    before = world.before()
    response = _get(world, "/v1/customers/42/recommendations",
                    query_string={"token": "v1.NDI.1700000000.\u00e9"})
    _check(world, response, before)
    assert response.status_code == 401


def test_module_ran_its_share_of_cases() -> None:
    """Runs last in this module: the hypothesis tests above ran at least MIN_CASES cases."""
    assert CASES[MODULE] >= MIN_CASES, CASES

