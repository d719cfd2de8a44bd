"""The standalone widget in headless Chromium (Debian's chromium + chromedriver, via Selenium).

A shop page served on one localhost port loads ``/widget.js`` from the app on another (so
CORS is exercised too); the app reads the real Redis. Three widgets: a signed-in customer,
an unknown customer (fallback) and a guest; then a page whose API is down.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from tests.conftest import free_port
from webhook import tokens
from worker import publish


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "Debian's chromium and chromium-driver are needed (.ci/run)"
    options = Options()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


@pytest.fixture
def served(make_app, settings, r, tmp_path):
    """The app on one port, a folder of shop pages on another; returns (api, page, folder)."""
    page_port = free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    app = make_app(settings.model_copy(update={"cors_origins": page_origin}))
    api = make_server("127.0.0.1", 0, app, threaded=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
    for server in (api, pages):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{api.server_port}", page_origin, tmp_path
    api.shutdown()
    pages.shutdown()


def _wait_state(browser, element_id: str) -> str:
    WebDriverWait(browser, 15).until(
        lambda b: b.find_element(By.ID, element_id).get_attribute("data-state"))
    return browser.find_element(By.ID, element_id).get_attribute("data-state")


def _cards(browser, element_id: str) -> list[str]:
    el = browser.find_element(By.ID, element_id)
    return [a.get_attribute("data-sku") for a in el.find_elements(By.CLASS_NAME, "dmfrec-card")]


def test_widget_renders_lists_fallback_and_guest(browser, served, settings, r):
    api, origin, folder = served
    publish.publish_user_lists(r, "v1", {"5": [(f"SKU-{k}", 1 - k / 10) for k in range(6)]})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [("POP-1", 9.0), ("POP-2", 8.0), ("POP-3", 7.0)])
    known = tokens.mint(settings.token_secret, "5")
    unknown = tokens.mint(settings.token_secret, "6")
    (folder / "shop.html").write_text(f"""<!doctype html><html><body>
<div id="mine" data-dmfrec data-api="{api}" data-customer="5" data-token="{known}"
 data-limit="4" data-product-url="/product/{{sku}}"></div>
<div id="new" data-dmfrec data-api="{api}" data-customer="6" data-token="{unknown}"
 data-limit="4"></div>
<div id="guest" data-dmfrec data-api="{api}" data-limit="2"></div>
<script src="{api}/widget.js"></script></body></html>""")
    browser.get(f"{origin}/shop.html")
    assert _wait_state(browser, "mine") == "personal"
    assert _cards(browser, "mine") == ["SKU-0", "SKU-1", "SKU-2", "SKU-3"]
    link = browser.find_element(By.CSS_SELECTOR, "#mine .dmfrec-card").get_attribute("href")
    assert link == f"{origin}/product/SKU-0"
    assert _wait_state(browser, "new") == "fallback"
    assert _cards(browser, "new") == ["POP-1", "POP-2", "POP-3"]
    assert _wait_state(browser, "guest") == "popular"
    assert _cards(browser, "guest") == ["POP-1", "POP-2"]


def test_widget_survives_an_endpoint_error(browser, served, settings):
    api, origin, folder = served
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    token = tokens.mint(settings.token_secret, "5")
    (folder / "down.html").write_text(f"""<!doctype html><html><body>
<h1 id="title">Shop</h1>
<div id="broken" data-dmfrec data-api="{down}" data-customer="5" data-token="{token}"></div>
<div id="bad-token" data-dmfrec data-api="{api}" data-customer="5" data-token="forged"></div>
<script src="{api}/widget.js"></script>
<script>document.getElementById("title").textContent = "still working";</script>
</body></html>""")
    browser.get(f"{origin}/down.html")
    assert _wait_state(browser, "broken") == "error"
    assert _wait_state(browser, "bad-token") == "error"  # 401: no cards, no exception
    assert _cards(browser, "broken") == [] and _cards(browser, "bad-token") == []
    assert browser.find_element(By.ID, "title").text == "still working"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and "Uncaught" in e["message"]]
    assert errors == []


def test_widget_shows_product_cards_from_a_product_info_route(browser, served, settings, r):
    """Name, price, image and link from the shop's product-info route (here a static file);
    when that route fails, SKU links still render."""
    api, origin, folder = served
    publish.publish_user_lists(r, "v2", {"5": [("SKU-A", 0.9), ("SKU-B", 0.8)]})
    publish.activate_version(r, "v2")
    (folder / "products.json").write_text(json.dumps({
        "SKU-A": {"name": "Red Mug", "price": "€12.00", "url": f"{origin}/red-mug.html",
                  "image": f"{origin}/red-mug.png"}}))
    token = tokens.mint(settings.token_secret, "5")
    (folder / "cards.html").write_text(f"""<!doctype html><html><body>
<div id="rich" data-dmfrec data-api="{api}" data-customer="5" data-token="{token}"
 data-products-url="{origin}/products.json"></div>
<div id="plain" data-dmfrec data-api="{api}" data-customer="5" data-token="{token}"
 data-products-url="{origin}/missing.json"></div>
<div id="known" data-dmfrec data-api="{api}" data-customer="5" data-token="{token}"
 data-products-url="{origin}/products.json" data-only-known></div>
<script src="{api}/widget.js"></script></body></html>""")
    browser.get(f"{origin}/cards.html")
    assert _wait_state(browser, "rich") == "personal"
    first, second = browser.find_elements(By.CSS_SELECTOR, "#rich .dmfrec-card")
    assert first.find_element(By.CLASS_NAME, "dmfrec-name").text == "Red Mug"
    assert first.find_element(By.CLASS_NAME, "dmfrec-price").text == "€12.00"
    assert first.find_element(By.TAG_NAME, "img").get_attribute("src") == f"{origin}/red-mug.png"
    assert first.get_attribute("href") == f"{origin}/red-mug.html"
    assert second.find_element(By.CLASS_NAME, "dmfrec-name").text == "SKU-B"  # no info: SKU
    assert _wait_state(browser, "plain") == "personal"
    assert _cards(browser, "plain") == ["SKU-A", "SKU-B"]
    # What the shop does not describe (disabled, sold out, not on this website) is not shown.
    assert _wait_state(browser, "known") == "personal"
    assert _cards(browser, "known") == ["SKU-A"]
