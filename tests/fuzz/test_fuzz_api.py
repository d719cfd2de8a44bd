"""Schemathesis against the OpenAPI document the live server serves (/openapi.json), over real
HTTP to gunicorn, MariaDB and Redis: no operation may answer 5xx, and a rejected request
(4xx) must leave the database and Redis unchanged.

Half of the Magento webhook cases are signed with the real secret, so generated snapshots get
past the signature check and reach validation and storage.
"""

from __future__ import annotations

import json
import zlib

import pytest
import requests
import schemathesis
from fuzz_support import CASES, FUZZ, SECRET
from hypothesis import given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error

from webhook import signing
from webhook.openapi import document

MODULE = "api"
MIN_CASES = 1_900
MAGENTO = "/v1/webhooks/magento/orders"
SIGNED = (MAGENTO, "/v1/webhooks/magento/products", "/admin/erase")  # half their bodies
# get past the signature check


# Every operation of the document: the list comes from the same function the route serves.
# Negative cases only where there is an input to break (parameters or a body).
OPERATIONS = [(path, method.upper(), mode) for path, ops in document()["paths"].items()
              for method, op in ops.items()
              for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
              if mode == GenerationMode.POSITIVE or op.get("parameters") or op.get("requestBody")]
EXAMPLES = 150  # per operation and generation mode


@pytest.fixture(scope="module")
def api(live) -> schemathesis.BaseSchema:
    """The schema as the running server serves it (schemathesis' pytest loader, from_fixture,
    does not work with pytest 9, so each operation's strategies are driven directly)."""
    return schemathesis.openapi.from_url(live.base + "/openapi.json")


def _send(case: Case, live) -> requests.Response:
    """Send the case; sign a Magento body (deterministically, every other body)."""
    kwargs = case.as_transport_kwargs(base_url=live.base)
    if case.operation.path in SIGNED:
        raw = kwargs.pop("data", None)
        if "json" in kwargs:
            raw = json.dumps(kwargs.pop("json")).encode()
        raw = raw.encode() if isinstance(raw, str) else raw or b""
        if zlib.crc32(raw) % 2:
            kwargs["headers"] = {**(kwargs.get("headers") or {}),
                                 **signing.signed_headers(SECRET, raw)}
        kwargs["data"] = raw
    kwargs.setdefault("timeout", 10)
    return live.session.request(**kwargs)


@pytest.mark.parametrize(("path", "method", "mode"), OPERATIONS)
def test_no_server_errors_and_no_writes_on_rejection(api, live, world, path: str, method: str,
                                                      mode: GenerationMode) -> None:
    # Failures are collected, not raised: every case runs (and counts), and the report lists
    # each distinct failure with a curl line to reproduce it.
    failures: dict[str, str] = {}

    @settings(FUZZ, max_examples=EXAMPLES)
    @given(case=api[path][method].as_strategy(generation_mode=mode))
    def one(case: Case) -> None:
        before = world.before()
        response = _send(case, live)
        CASES[MODULE] += 1
        world.last = world.state()
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as exc:  # a schemathesis failure group
            failures.setdefault(f"{response.status_code}", str(exc)[-1500:])
        if response.status_code >= 400 and world.last != before:
            failures.setdefault(f"write on {response.status_code}", response.text[:300])

    one()
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())


def test_module_ran_its_share_of_cases() -> None:
    assert CASES[MODULE] >= MIN_CASES, CASES
