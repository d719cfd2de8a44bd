"""The merchant dashboard: admin token (header or sign-in cookie), the seeded figures in its
JSON, and the page in headless Chromium (Chart.js served by the app, no console errors)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import insert
from werkzeug.serving import make_server

from storage import experiments
from storage.analytics import record_events
from storage.analytics_models import AttributedLine
from storage.ingestion import utcnow
from storage.models import Event, ModelVersion
from tests.webhook.test_webhook_widget_browser import browser  # noqa: F401 (fixture)
from webhook import services

ADMIN = "admin-token-for-tests-0123456789"


@pytest.fixture
def dash_app(make_app, settings, r):
    app = make_app(settings.model_copy(update={"admin_token": ADMIN}))
    now = utcnow()
    today, yesterday = now.replace(hour=12), now.replace(hour=12) - timedelta(days=1)
    rows = []
    for at, arm, shown, clicked in ((yesterday, "dmf", 40, 6), (yesterday, "popular", 40, 2),
                                    (today, "dmf", 20, 5), (today, "popular", 20, 1)):
        for k in range(shown):
            rows.append({"rec_id": f"{arm}{at.day:02d}{k:026d}", "sku": "SKU-1",
                         "kind": "impression", "position": 1, "subject": str(k),
                         "experiment": "ab", "arm": arm, "version": "v7", "at": at})
            if k < clicked:
                rows.append(rows[-1] | {"kind": "click"})
    # Guests outside the experiment shown the popular list: not the experiment's arm.
    rows += [{"rec_id": f"guest{k:027d}", "sku": "SKU-9", "kind": "impression", "position": 1,
              "subject": f"s.guest{k}.00", "experiment": "", "arm": "popular", "version": None,
              "at": today} for k in range(30)]
    with app.app_context():
        engine = services.engine()
        record_events(engine, rows)
        with engine.begin() as conn:
            conn.execute(insert(AttributedLine.__table__), [
                {"order_id": 1, "item_id": 1, "customer_key": "1", "sku": "SKU-1",
                 "rec_id": "x" * 32, "experiment": "ab", "arm": "dmf",
                 "amount": Decimal("30.50"), "ordered_at": today, "clicked_at": today},
                {"order_id": 1, "item_id": 2, "customer_key": "1", "sku": "SKU-2",
                 "rec_id": "x" * 32, "experiment": "ab", "arm": "dmf",
                 "amount": Decimal("12.00"), "ordered_at": today, "clicked_at": today}])
            conn.execute(insert(ModelVersion.__table__), [{
                "version": "v7", "status": "active", "artifact_path": "/models/v7",
                "metrics": {"gate": {"promote": True, "reason": "ok", "metric": "recall@20",
                                     "candidate": 0.1234, "active": 0.1111,
                                     "n_customers": 300}},
                "created_at": now - timedelta(hours=3), "activated_at": now - timedelta(hours=2)}])
            conn.execute(insert(Event.__table__), [{
                "event_id": "pending-1", "order_id": 5, "order_updated_at": now,
                "received_at": now - timedelta(seconds=30), "status": "pending",
                "payload": "{}", "attempts": 0}])
        experiments.start(engine, r, "ab", experiments.parse_arms("dmf=50,popular=50"))
    return app


def test_dashboard_needs_the_admin_token(make_app, settings, dash_app):
    off = make_app(settings).test_client()
    assert off.get("/dashboard").status_code == 404  # no token configured: no dashboard
    client = dash_app.test_client()
    assert client.get("/dashboard").status_code == 401
    assert client.get("/dashboard/data.json").status_code == 401
    assert client.get("/dashboard?token=wrong").status_code == 401
    assert client.get("/dashboard/data.json",
                      headers={"Authorization": "Bearer " + "x" * 32}).status_code == 401
    signed = client.get(f"/dashboard?token={ADMIN}")
    assert signed.status_code == 303 and signed.headers["Location"] == "/dashboard"
    assert "HttpOnly" in signed.headers["Set-Cookie"]
    assert client.get("/dashboard").status_code == 200  # the cookie
    assert client.get("/dashboard/data.json?days=0").status_code == 400


def test_dashboard_data_holds_the_seeded_figures(dash_app):
    data = dash_app.test_client().get(
        "/dashboard/data.json", headers={"Authorization": f"Bearer {ADMIN}"}).get_json()
    days = {(d["day"], d["experiment"], d["arm"]): d for d in data["days"]}
    today = utcnow().date().isoformat()
    assert days[(today, "ab", "dmf")] | {"day": 0} == {
        "day": 0, "experiment": "ab", "arm": "dmf", "impressions": 20, "clicks": 5,
        "ctr": 0.25, "orders": 1, "revenue": 42.5}
    assert days[(today, "ab", "popular")]["impressions"] == 20  # the guests kept apart
    assert days[(today, "", "popular")]["impressions"] == 30
    assert len(days) == 5
    assert data["active_model"]["version"] == "v7"
    assert data["last_retrain"]["gate"]["candidate"] == 0.1234
    assert data["events_pending"] == 1 and data["oldest_pending_s"] >= 30
    assert data["experiment"]["name"] == "ab" and "salt" not in data["experiment"]


def test_dashboard_page_in_chromium(browser, dash_app):  # noqa: F811
    server = make_server("127.0.0.1", 0, dash_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        browser.get(f"{base}/dashboard?token={ADMIN}")
        WebDriverWait(browser, 15).until(
            lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state")
            in ("ready", "error"))
        assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready"
        assert browser.current_url == f"{base}/dashboard"  # the token left the address
        today = utcnow().date().isoformat()
        cells = [td.text for td in browser.find_elements(
            By.CSS_SELECTOR, f'tr[data-day="{today}"][data-arm="ab/dmf"] td')]
        assert cells == [today, "ab/dmf", "20", "5", "25.00%", "1", "42.50"]
        cells = [td.text for td in browser.find_elements(
            By.CSS_SELECTOR, f'tr[data-day="{today}"][data-arm="popular"] td')]
        assert cells == [today, "popular", "30", "0", "0.00%", "0", "0.00"]
        assert len(browser.find_elements(By.CSS_SELECTOR, "#days tbody tr")) == 5
        assert browser.find_element(By.ID, "active-model").text.startswith("v7 since")
        assert "0.1234 vs 0.1111" in browser.find_element(By.ID, "last-retrain").text
        assert browser.find_element(By.ID, "events-pending").text.startswith("1 (oldest")
        for chart in ("ctr-chart", "revenue-chart"):
            points = browser.execute_script(
                f"var c = Chart.getChart('{chart}'); return c ? c.data.datasets.map("
                "function (d) { return d.data.length; }) : null")
            assert points == [2, 2, 2]  # ab/dmf, ab/popular, popular (outside it)
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        server.shutdown()
