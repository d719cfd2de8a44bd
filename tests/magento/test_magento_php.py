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
from xml.etree import ElementTree

import pytest

from webhook import signing, tokens

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "magento-module"
VECTORS_FILE = MODULE / "Dmfrec/Recommendations/Test/Unit/_files/vectors.json"
VECTORS = json.loads(VECTORS_FILE.read_text())


@pytest.fixture(scope="module")
def php() -> str:
    path = shutil.which("php")
    assert path, "Debian's php-cli is needed (.ci/run installs it)"
    return path


def test_every_php_file_lints_and_every_xml_file_parses(php):
    files = sorted([*MODULE.rglob("*.php"), *MODULE.rglob("*.phtml"),
                    *Path(__file__).parent.glob("*.php")])
    assert len(files) >= 10
    for f in files:
        done = subprocess.run([php, "-l", str(f)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    xml = sorted(MODULE.rglob("*.xml"))
    assert {f.name for f in xml} >= {"module.xml", "events.xml", "crontab.xml", "db_schema.xml",
                                     "system.xml", "config.xml", "widget.xml"}
    for f in xml:
        ElementTree.parse(f)  # well-formed


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


ORDER_ROWS = {"order": VECTORS["snapshots"][0]["order"], "items": VECTORS["snapshots"][0]["items"],
              "website_id": VECTORS["snapshots"][0]["website_id"]}


def _php_snapshot(php, tmp_path, rows) -> dict:
    source = tmp_path / "rows.json"
    source.write_text(json.dumps(rows))
    done = subprocess.run([php, str(Path(__file__).parent / "snapshot.php"), str(source)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_php_snapshot_is_what_the_webhook_accepts(php, tmp_path):
    from decimal import Decimal

    from storage.ingestion import derive_lines
    from storage.snapshot import parse_event

    body = _php_snapshot(php, tmp_path, ORDER_ROWS)
    event = parse_event(json.dumps(body).encode())
    order = event.order
    assert (order.entity_id, order.customer_id, order.state) == (1201, 42, "processing")
    assert order.updated_at.isoformat().startswith("2026-11-21T10:00:00")
    assert [i.sku for i in order.items] == ["TSHIRT-M-RED", "TSHIRT-M-RED", "MUG'; DROP--"]
    assert order.items[0].qty_refunded == Decimal(1) and order.items[1].parent_item_id == 501
    assert order.items[0].name == "T-Shirt Ünïcode" and order.items[2].qty_canceled == 1
    assert body["event_id"] == VECTORS["snapshots"][0]["event_id"]
    # Lines are valued in base currency (USD here), not the order's (EUR).
    assert (order.website_id, order.base_currency, order.currency) == (1, "USD", "EUR")
    amounts = {row["item_id"]: row["amount"] for row in derive_lines(order)}
    assert amounts == {501: Decimal("21.9450"), 502: Decimal("21.9450"), 503: Decimal(0)}
    # The same rows give the same event id (a resend is a duplicate); progress gives a new one.
    assert _php_snapshot(php, tmp_path, ORDER_ROWS)["event_id"] == body["event_id"]
    refunded = json.loads(json.dumps(ORDER_ROWS))
    refunded["items"][1]["qty_refunded"] = "1.0000"
    assert _php_snapshot(php, tmp_path, refunded)["event_id"] != body["event_id"]


def test_the_guest_session_stamped_on_the_order_reaches_attribution(php, tmp_path):
    """sales_order.dmfrec_session_id (the widget's cookie, stamped at checkout) is sent as the
    snapshot's `session_id`, which dmfrec validates and stores; a malformed one is not sent."""
    from storage.snapshot import parse_event

    session = "s.Zm9vYmFyYmF6cXV4cXV1eA.0123456789abcdef0123"
    rows = json.loads(json.dumps(ORDER_ROWS))
    rows["order"]["dmfrec_session_id"] = session
    body = _php_snapshot(php, tmp_path, rows)
    assert parse_event(json.dumps(body).encode()).order.session_id == session
    assert body["event_id"] == VECTORS["snapshots"][0]["event_id"]  # not part of the event id
    rows["order"]["dmfrec_session_id"] = "s.x.1;evil"
    body = _php_snapshot(php, tmp_path, rows)
    assert body["order"]["session_id"] is None
    assert parse_event(json.dumps(body).encode()).order.session_id is None


def test_per_website_stock_states_are_what_each_dmfrec_applies(php, tmp_path):
    """MSI: SKU A sells on websites 1 and 2 (default stock) but not in website 3's stock, which
    has its own dmfrec. The module's PHP (CatalogBatch, Catalog\\WebsiteStock) tells the default
    dmfrec A is shown (on website 1: the one it is assigned to that sells it) and website 3's
    dmfrec that A is hidden; B (assigned to website 3 only, sold there) the other way round.
    Each dmfrec validates and stores that."""
    from sqlalchemy import create_engine

    from storage.catalog import apply_catalog, parse_catalog
    from storage.models import Base

    code = r"""require 'magento-module/Dmfrec/Recommendations/Test/bootstrap.php';
use Dmfrec\Recommendations\Model\CatalogBatch;
$enabled = ['' => ['https://reco.example', 's'], 1 => ['https://reco.example', 's'],
    2 => ['https://reco.example', 's'], 3 => ['https://eu.reco.example', 's3']];
$states = [['sku' => 'A', 'enabled' => 1, 'visible' => 1, 'in_stock' => true,
    'website_ids' => [1, 3], 'salable' => [1 => true, 2 => true, 3 => false]],
    ['sku' => 'B', 'enabled' => 1, 'visible' => 1, 'in_stock' => false, 'website_ids' => [3],
    'salable' => [1 => false, 2 => false, 3 => true]]];
$out = [];
foreach ((new CatalogBatch())->messages($states, 1795750000.0, CatalogBatch::targets($enabled),
    CatalogBatch::served($enabled)) as $m) {
    $out[] = ['website' => $m->websiteId, 'body' => $m->payload];
}
echo json_encode($out);"""
    done = subprocess.run([php, "-r", code], cwd=REPO, capture_output=True, text=True, check=True)
    messages = json.loads(done.stdout)
    assert [m["website"] for m in messages] == [None, 3]
    stored = {}
    for m in messages:
        engine = create_engine(f"sqlite:///{tmp_path / 'dmfrec-{}.db'.format(m['website'])}")
        Base.metadata.create_all(engine)
        states = apply_catalog(engine, parse_catalog(m["body"]))
        stored[m["website"]] = {s.sku: (s.hidden, s.website_ids) for s in states}
        engine.dispose()
    assert stored[None] == {"A": (False, (1,)), "B": (True, (3,))}  # B: only website 3 sells it
    assert stored[3] == {"A": (True, (1,)), "B": (False, (3,))}
