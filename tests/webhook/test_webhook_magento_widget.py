"""The Magento module's widget in headless Chromium, end to end with the real dmfrec API.

The page holds what Magento's full-page cache would store (the module's real template, rendered
by php) and the module's real script, around the stand-in for Magento's RequireJS and
customer-data in `benchmarks.magento_storefront` (which the README's screenshots use too).
"""

from __future__ import annotations

import json

from selenium.webdriver.common.by import By

from benchmarks.magento_storefront import (
    GUEST_SECTION,
    cached_block,
    customer_section,
    install_module_files,
    page,
)
from tests.webhook.test_webhook_widget_browser import (  # noqa: F401  (fixtures)
    _cards,
    _wait_state,
    browser,
    served,
)
from worker import publish


def _write_page(folder, who: str, cached: str, section: str) -> None:
    (folder / f"{who}.html").write_text(page(cached, f"{who}.json"))
    (folder / f"{who}.json").write_text(section)


def test_guest_gets_popular_and_customer_gets_their_list(browser, served, settings, r):  # noqa: F811
    api, origin, folder = served
    publish.publish_user_lists(r, "v1", {"42": [("MINE-1", 0.9), ("MINE-2", 0.8)]})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [("TOP-1", 9), ("TOP-2", 8)])
    install_module_files(folder)
    customer = customer_section("42", settings.token_secret)
    # The shop's product-info route describes what it shows: MINE-2 is disabled in Magento.
    cards_info = {sku: {"name": f"Name of {sku}", "price": "$1", "url": f"{origin}/{sku}"}
                  for sku in ("TOP-1", "TOP-2", "MINE-1")}
    (folder / "products.json").write_text(json.dumps(cards_info))
    cached = cached_block(api, 3, f"{origin}/products.json")
    # The cached page is the same for both: nothing of the customer's in it.
    assert "MINE" not in cached and "data-customer" not in cached and "token" not in cached

    for who, section, state, cards in (("guest", GUEST_SECTION, "popular", ["TOP-1", "TOP-2"]),
                                       ("customer", customer, "personal", ["MINE-1"])):
        _write_page(folder, who, cached, section)
        browser.get(f"{origin}/{who}.html")
        el = browser.find_element(By.CLASS_NAME, "dmfrec-placeholder")
        el_id = f"w-{who}"
        browser.execute_script("arguments[0].id = arguments[1];", el, el_id)
        assert _wait_state(browser, el_id) == state, who
        assert _cards(browser, el_id) == cards, who
        assert browser.execute_script(
            "return document.querySelectorAll('script[src$=\"/widget.js\"]').length") == 1
        assert el.get_attribute("data-api") == api
        assert (el.get_attribute("data-customer") == "42") is (who == "customer")


SESSION_OF_PAGE = """return [sessionStorage.getItem('dmfrec-session'),
  (document.cookie.match(/(?:^|; )dmfrec_session=([^;]*)/) || [])[1] || null];"""


def test_a_guest_session_is_kept_in_the_cookie_the_checkout_reads(browser, served, r):  # noqa: F811
    """The module's widget keeps the guest's session id in the `dmfrec_session` cookie (what
    Plugin\\OrderSessionPlugin stamps on the order); a new tab (empty sessionStorage) takes
    the session back from the cookie instead of minting another."""
    api, origin, folder = served
    publish.publish_popular(r, [("TOP-1", 9), ("TOP-2", 8)])
    install_module_files(folder)
    _write_page(folder, "guest", cached_block(api, 3, ""), GUEST_SECTION)
    browser.get(f"{origin}/guest.html")
    el = browser.find_element(By.CLASS_NAME, "dmfrec-placeholder")
    browser.execute_script("arguments[0].id = 'g';", el)
    assert _wait_state(browser, "g") == "popular"
    kept, cookie = browser.execute_script(SESSION_OF_PAGE)
    assert kept and kept.startswith("s.") and cookie == kept
    browser.execute_script("sessionStorage.clear();")
    browser.get(f"{origin}/guest.html")
    el = browser.find_element(By.CLASS_NAME, "dmfrec-placeholder")
    browser.execute_script("arguments[0].id = 'g';", el)
    assert _wait_state(browser, "g") == "popular"
    assert browser.execute_script(SESSION_OF_PAGE) == [kept, kept]


def test_with_cookie_restriction_the_session_cookie_waits_for_consent(browser, served, r):  # noqa: F811
    """Magento's cookie restriction mode: the widget keeps no session cookie until the visitor
    allowed cookies for this website (Magento's `user_allowed_save_cookie`, {website: 1})."""
    api, origin, folder = served
    publish.publish_popular(r, [("TOP-1", 9), ("TOP-2", 8)])
    install_module_files(folder)
    _write_page(folder, "guest", cached_block(api, 3, "", consent_website=1), GUEST_SECTION)

    def visit() -> list:
        browser.get(f"{origin}/guest.html")
        el = browser.find_element(By.CLASS_NAME, "dmfrec-placeholder")
        browser.execute_script("arguments[0].id = 'g';", el)
        assert _wait_state(browser, "g") == "popular"
        return browser.execute_script(SESSION_OF_PAGE)

    kept, cookie = visit()
    assert kept and cookie is None  # the list and its beacons work; no cookie without consent
    browser.add_cookie({"name": "user_allowed_save_cookie", "value": "%7B%222%22%3A1%7D"})
    assert visit()[1] is None  # consent for another website only
    browser.add_cookie({"name": "user_allowed_save_cookie", "value": "%7B%221%22%3A1%7D"})
    assert visit() == [kept, kept]
