"""The widget's impression and click beacons in headless Chromium, against the real app:
a list in the viewport is reported once per SKU, a click with its position, a guest under
the session id the API minted (kept across page loads)."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By
from sqlalchemy import select

from storage.analytics_models import RecEvent
from storage.db import make_engine
from tests.webhook.test_webhook_widget_browser import (  # noqa: F401 (fixtures)
    _wait_state,
    browser,
    served,
)
from webhook import tokens
from worker import publish


def _wait_rows(url: str, want: int, timeout: float = 15) -> list[tuple]:
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                rows = [tuple(r) for r in conn.execute(
                    select(RecEvent.subject, RecEvent.sku, RecEvent.kind, RecEvent.position)
                    .order_by(RecEvent.subject, RecEvent.kind, RecEvent.position))]
            if len(rows) >= want or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)
    finally:
        engine.dispose()


def test_widget_reports_impressions_and_clicks(browser, served, settings, r):  # noqa: F811
    api, origin, folder = served
    publish.publish_user_lists(r, "v1", {"5": [(f"SKU-{k}", 1 - k / 10) for k in range(6)]})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [("POP-1", 9.0), ("POP-2", 8.0)])
    token = tokens.mint(settings.token_secret, "5")
    (folder / "shop.html").write_text(f"""<!doctype html><html><body>
<div id="mine" data-dmfrec data-api="{api}" data-customer="5" data-token="{token}"
 data-limit="3" data-product-url="/product/{{sku}}"></div>
<div id="guest" data-dmfrec data-api="{api}" data-limit="2"></div>
<script src="{api}/widget.js"></script></body></html>""")
    (folder / "product").mkdir()
    (folder / "product" / "SKU-1").write_text("<!doctype html><p>product</p>")
    browser.get(f"{origin}/shop.html")
    assert _wait_state(browser, "mine") == "personal"
    assert _wait_state(browser, "guest") == "popular"
    rows = _wait_rows(settings.database_url, 5)
    session = browser.execute_script("return sessionStorage.getItem('dmfrec-session')")
    assert session and session.startswith("s.")
    # Without data-session-cookie (only the Magento module asks for it) no cookie is set.
    assert "dmfrec_session" not in browser.execute_script("return document.cookie")
    assert rows == [("5", "SKU-0", "impression", 1), ("5", "SKU-1", "impression", 2),
                    ("5", "SKU-2", "impression", 3),
                    (session, "POP-1", "impression", 1), (session, "POP-2", "impression", 2)]
    browser.find_elements(By.CSS_SELECTOR, "#mine .dmfrec-card")[1].click()
    rows = _wait_rows(settings.database_url, 6)
    assert ("5", "SKU-1", "click", 2) in rows and len(rows) == 6
    # A reload: the same lists, the same ids; nothing is counted twice. Same guest session.
    browser.get(f"{origin}/shop.html")
    assert _wait_state(browser, "mine") == "personal"
    time.sleep(3)  # past the widget's 2 s batching
    assert len(_wait_rows(settings.database_url, 7, timeout=1)) == 6
    assert browser.execute_script("return sessionStorage.getItem('dmfrec-session')") == session
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and "Uncaught" in e["message"]]
    assert errors == []


def test_large_lists_are_split_into_beacons_the_server_accepts(browser, served, settings, r):  # noqa: F811
    """Two guest lists of 50 long SKUs (the Magento module's largest list) in one batch:
    together over DMFREC_ANALYTICS_MAX_BODY_BYTES (16 KiB), a beacon the server refuses whole.
    The widget sends them in beacons small enough, so every impression is stored."""
    api, origin, folder = served
    skus = [f"{'LONG-SKU-' * 6}{k:06d}" for k in range(50)]  # 60 characters each
    publish.publish_popular(r, [(s, 100.0 - k) for k, s in enumerate(skus)])
    (folder / "big.html").write_text(f"""<!doctype html><html><body>
<div id="one" data-dmfrec data-api="{api}" data-limit="50"></div>
<div id="two" data-dmfrec data-api="{api}" data-limit="50"></div>
<script src="{api}/widget.js"></script></body></html>""")
    browser.set_window_size(1200, 6000)  # both lists in the viewport: both are impressions
    browser.get(f"{origin}/big.html")
    assert _wait_state(browser, "one") == "popular" and _wait_state(browser, "two") == "popular"
    rows = _wait_rows(settings.database_url, 100)
    # Both widgets asked for a session at once: two guest sessions, 50 impressions each.
    assert len(rows) == 100 and len({subject for subject, *_ in rows}) == 2
    assert sorted(sku for _, sku, _, _ in rows) == sorted(skus * 2)
