"""The Magento module's PHP, run by real php: every file lints, and its signing and token code
agrees with the Python side on shared test vectors, both ways.

The first signature vector is Standard Webhooks' own published example, so both sides are
also checked against the scheme itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from webhook import signing, tokens

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "magento-module"
VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())


@pytest.fixture(scope="module")
def php() -> str:
    path = shutil.which("php")
    assert path, "Debian's php-cli is needed (.ci/run installs it)"
    return path


def test_every_php_file_lints(php):
    files = sorted(MODULE.rglob("*.php"))
    assert len(files) >= 3
    for f in files:
        done = subprocess.run([php, "-l", str(f)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_php_makes_the_vectors_and_python_accepts_them(php):
    done = subprocess.run([php, str(Path(__file__).parent / "vectors.php")],
                          capture_output=True, text=True, check=True)
    made = json.loads(done.stdout)
    assert made["signatures"] == [v["signature"] for v in VECTORS["signatures"]]
    assert made["tokens"] == [v["token"] for v in VECTORS["tokens"]]
    for v, signature in zip(VECTORS["signatures"], made["signatures"], strict=True):
        headers = {"webhook-id": v["msg_id"], "webhook-timestamp": str(v["timestamp"]),
                   "webhook-signature": signature}
        assert signing.verify([v["secret"]], headers, v["body"].encode(),
                              now=v["timestamp"]) == v["msg_id"]
    for v, token in zip(VECTORS["tokens"], made["tokens"], strict=True):
        claims = tokens.verify(v["secret"], token, max_ttl_s=10**10, now=v["expires"] - 60)
        assert claims.customer_id == v["customer_id"]


def test_python_makes_the_same_vectors():
    assert VECTORS["signatures"][0]["signature"] == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="  # the Standard Webhooks example
    for v in VECTORS["signatures"]:
        assert signing.sign(v["secret"], v["msg_id"], v["timestamp"], v["body"].encode()) == \
            v["signature"]
    for v in VECTORS["tokens"]:
        assert tokens.mint(v["secret"], v["customer_id"], expires=v["expires"]) == v["token"]
