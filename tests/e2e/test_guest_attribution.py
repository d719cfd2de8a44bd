"""End to end, as deployed (the live-loop stack: gunicorn, a Celery worker and beat against a
migrated MariaDB and Redis): a guest's widget answer mints a session, the guest's click is
reported with a beacon, the Magento module's PHP builds the order's snapshot with the session
stamped at checkout (`sales_order.dmfrec_session_id`), and the worker credits the clicked line
in base currency; a later refund, sent without the session (an admin save), takes it back
exactly."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from storage.analytics_models import AttributedLine
from tests.e2e.test_live_loop import _post, _wait, database, r, stack  # noqa: F401 (fixtures)
from worker import publish

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT_PHP = REPO / "tests/magento/snapshot.php"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _beacon(base: str, rec: dict, sku: str) -> int:
    skus = sorted(rec["positions"], key=rec["positions"].get)
    body = {"reports": [{"recommendation": {
        "id": rec["id"], "subject": rec["subject"], "experiment": rec["experiment"],
        "arm": rec["arm"], "version": rec["version"], "day": rec["day"], "skus": skus},
        "events": [{"type": "click", "sku": sku, "position": rec["positions"][sku]}]}]}
    request = urllib.request.Request(base + "/v1/analytics/events", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def _snapshot(rows: dict, tmp_path: Path) -> dict:
    php = shutil.which("php")
    assert php, "Debian's php-cli is needed (.ci/run installs it)"
    source = tmp_path / "rows.json"
    source.write_text(json.dumps(rows))
    return json.loads(subprocess.run([php, str(SNAPSHOT_PHP), str(source)], check=True,
                                     capture_output=True, text=True).stdout)


def _credited(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            select(AttributedLine.sku, AttributedLine.amount, AttributedLine.arm))]


def test_a_guests_click_is_credited_to_their_order_and_a_refund_takes_it_back(
        stack, r, tmp_path):  # noqa: F811
    base, procs, engine = stack["base"], stack["procs"], stack["engine"]
    publish.publish_popular(r, [("MUG", 9.0), ("SOCKS", 8.0), ("HAT", 7.0)])
    answer = _get(base + "/v1/popular?limit=3&session=new")
    session, rec = answer["session"], answer["recommendation"]
    assert session.startswith("s.") and rec["subject"] == session
    assert _beacon(base, rec, "SOCKS") == 202

    now = datetime.now(UTC)
    stamp = lambda minutes: (now + timedelta(minutes=minutes)).strftime(  # noqa: E731
        "%Y-%m-%d %H:%M:%S")
    placed = stamp(0)  # after the click
    rows = {"website_id": 1, "order": {
        "entity_id": 77001, "increment_id": "000077001", "store_id": 1, "customer_id": None,
        "customer_email": "guest@example.com", "customer_is_guest": 1, "state": "processing",
        "status": "processing", "created_at": placed, "updated_at": placed,
        "order_currency_code": "EUR", "base_currency_code": "USD",
        "dmfrec_session_id": session},
        "items": [{"item_id": 1, "sku": "SOCKS", "product_type": "simple",
                   "qty_ordered": "2.0000", "price": "9.0000", "row_total": "18.0000",
                   "base_price": "10.0000", "base_row_total": "20.0000"},
                  {"item_id": 2, "sku": "HAT", "product_type": "simple",
                   "qty_ordered": "1.0000", "price": "5.0000", "row_total": "5.0000",
                   "base_price": "6.0000", "base_row_total": "6.0000"}]}
    first = _snapshot(rows, tmp_path)
    assert first["order"]["session_id"] == session
    assert _post(base, first) == 202
    credited, _ = _wait(lambda: _credited(engine), 30, "the guest's clicked line credited",
                        procs)
    assert credited == [("SOCKS", Decimal("20.0000"), "popular")]  # base currency, once

    # One pair refunded in the admin: that save has no browser session to send.
    refunded = json.loads(json.dumps(rows))
    refunded["order"]["dmfrec_session_id"] = None
    refunded["order"]["updated_at"] = stamp(1)
    refunded["items"][0]["qty_refunded"] = "1.0000"
    second = _snapshot(refunded, tmp_path)
    assert second["order"]["session_id"] is None
    assert _post(base, second) == 202
    _wait(lambda: _credited(engine) == [("SOCKS", Decimal("10.0000"), "popular")], 30,
          "the refund to halve the credit", procs)
    refunded["order"]["state"] = "closed"
    refunded["order"]["updated_at"] = stamp(2)
    refunded["items"][0]["qty_refunded"] = "2.0000"
    refunded["items"][1]["qty_refunded"] = "1.0000"
    assert _post(base, _snapshot(refunded, tmp_path)) == 202
    _wait(lambda: _credited(engine) == [], 30, "the full refund to take the credit back", procs)
