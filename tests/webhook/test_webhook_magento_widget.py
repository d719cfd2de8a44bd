"""The Magento module's widget in headless Chromium, end to end with the real dmfrec API.

The page holds what Magento's full-page cache would store (the module's real template, rendered
by php) and the module's real script. Magento's RequireJS, `data-mage-init` and
`Magento_Customer/js/customer-data` are replaced by the minimum they do here: load the script,
call it with its config and element, and hand it the `dmfrec` section as Magento's
`customer/section/load` would, which for the customer is what the module's SectionData builds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from selenium.webdriver.common.by import By

from tests.webhook.test_webhook_widget_browser import (  # noqa: F401  (fixtures)
    _cards,
    _wait_state,
    browser,
    served,
)
from worker import publish

REPO = Path(__file__).resolve().parents[2]
MODULE_JS = REPO / "magento-module/Dmfrec/Recommendations/view/frontend/web/js/recommendations.js"

MAGENTO_STANDIN = """<script>
// What RequireJS and mage/apply do for data-mage-init, and customer-data's get/reload.
var modules = {}, pending = [];
function define(deps, factory) { pending.push([deps, factory]); }
function observable(value) {
  var subs = [], f = function () { return value; };
  f.subscribe = function (cb) { subs.push(cb); };
  f.set = function (v) { value = v; subs.forEach(function (cb) { cb(v); }); };
  return f;
}
var sections = {};
modules['Magento_Customer/js/customer-data'] = {
  get: function (n) { return sections[n] || (sections[n] = observable({})); },
  reload: function (names) {
    window.sectionLoads = (window.sectionLoads || 0) + 1;
    return fetch(window.SECTION_URL).then(function (r) { return r.json(); }).then(function (d) {
      names.forEach(function (n) {
        var data = d[n] || {}; data.data_id = Math.floor(Date.now() / 1000);
        modules['Magento_Customer/js/customer-data'].get(n).set(data);
      });
    });
  }
};
</script>"""

APPLY = """<script>
var entry = pending.shift();
modules['Dmfrec_Recommendations/js/recommendations'] =
  entry[1].apply(null, entry[0].map(function (d) { return modules[d]; }));
document.querySelectorAll('[data-mage-init]').forEach(function (el) {
  var init = JSON.parse(el.getAttribute('data-mage-init'));
  Object.keys(init).forEach(function (name) { modules[name](init[name], el); });
});
</script>"""


def _page(php: str, api: str, products_url: str, consent_website: str = "") -> str:
    cached = subprocess.run([php, str(REPO / "tests/magento/render_widget.php"), api, "3", "",
                             products_url, consent_website], capture_output=True, text=True,
                            check=True).stdout
    return ("<!doctype html><html><body>" + MAGENTO_STANDIN + cached
            + "<script src='recommendations.js'></script>" + APPLY + "</body></html>")


def test_guest_gets_popular_and_customer_gets_their_list(browser, served, settings, r):  # noqa: F811
    php = shutil.which("php")
    assert php, "Debian's php-cli is needed (.ci/run installs it)"
    api, origin, folder = served
    publish.publish_user_lists(r, "v1", {"42": [("MINE-1", 0.9), ("MINE-2", 0.8)]})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [("TOP-1", 9), ("TOP-2", 8)])
    shutil.copy(MODULE_JS, folder / "recommendations.js")
    code = ("require 'magento-module/Dmfrec/Recommendations/Test/bootstrap.php';"
            f"echo json_encode(['dmfrec' => (new Dmfrec\\Recommendations\\Model\\SectionData())"
            f"->build('42', '{settings.token_secret}', 600, time())]);")
    customer = subprocess.run([php, "-r", code], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout
    # The shop's product-info route describes what it shows: MINE-2 is disabled in Magento.
    cards_info = {sku: {"name": f"Name of {sku}", "price": "$1", "url": f"{origin}/{sku}"}
                  for sku in ("TOP-1", "TOP-2", "MINE-1")}
    (folder / "products.json").write_text(json.dumps(cards_info))
    html = _page(php, api, f"{origin}/products.json")
    # The cached page is the same for both: nothing of the customer's in it.
    assert "MINE" not in html and "data-customer" not in html and "token" not in html

    for who, section, state, cards in (("guest", '{"dmfrec": []}', "popular", ["TOP-1", "TOP-2"]),
                                       ("customer", customer, "personal", ["MINE-1"])):
        (folder / f"{who}.html").write_text(
            html.replace("<body>", f"<body><script>var SECTION_URL = '{who}.json';</script>"))
        (folder / f"{who}.json").write_text(section)
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
    php = shutil.which("php")
    assert php, "Debian's php-cli is needed (.ci/run installs it)"
    api, origin, folder = served
    publish.publish_popular(r, [("TOP-1", 9), ("TOP-2", 8)])
    shutil.copy(MODULE_JS, folder / "recommendations.js")
    html = _page(php, api, "")
    (folder / "guest.html").write_text(
        html.replace("<body>", "<body><script>var SECTION_URL = 'guest.json';</script>"))
    (folder / "guest.json").write_text('{"dmfrec": []}')
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
    php = shutil.which("php")
    assert php, "Debian's php-cli is needed (.ci/run installs it)"
    api, origin, folder = served
    publish.publish_popular(r, [("TOP-1", 9), ("TOP-2", 8)])
    shutil.copy(MODULE_JS, folder / "recommendations.js")
    html = _page(php, api, "", consent_website="1")
    (folder / "guest.html").write_text(
        html.replace("<body>", "<body><script>var SECTION_URL = 'guest.json';</script>"))
    (folder / "guest.json").write_text('{"dmfrec": []}')

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
