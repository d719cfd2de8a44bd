"""The Magento module's widget outside Magento: what the full-page cache stores, and a stand-in
for the little of Magento's storefront JavaScript it needs (browser tests and screenshots).

The cached block is the module's real template rendered by php (`tests/magento/render_widget.php`,
the module's real WidgetConfig); the customer's `dmfrec` section is built by the module's real
SectionData. Magento's RequireJS, `data-mage-init` and `Magento_Customer/js/customer-data` are
replaced by the minimum they do here: load the module's script, call it with its config and
element, and hand it the section fetched from `SECTION_URL`, as `customer/section/load` would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "magento-module/Dmfrec/Recommendations"
MODULE_JS = MODULE / "view/frontend/web/js/recommendations.js"
MODULE_CSS = MODULE / "view/frontend/web/css/recommendations.css"
RENDER_BLOCK = REPO / "tests/magento/render_widget.php"

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

GUEST_SECTION = '{"dmfrec": []}'  # what customer/section/load answers for a guest


def php() -> str:
    path = shutil.which("php")
    assert path, "Debian's php-cli is needed (.ci/run installs it)"
    return path


def cached_block(api: str, limit: int, products_url: str, *, website: int | None = None,
                 consent_website: int | None = None, static_base: str = "",
                 title: str = "") -> str:
    """The block's HTML as the full-page cache stores it (the same for every visitor);
    `title`: a CMS widget's title argument. Empty static_base or title: render_widget.php's
    defaults (a Luma static URL; the layouts' "Recommended for you")."""
    args = [api, str(limit), "" if website is None else str(website), products_url,
            "" if consent_website is None else str(consent_website)]
    args += [static_base, title]
    return subprocess.run([php(), str(RENDER_BLOCK), *args], capture_output=True, text=True,
                          check=True).stdout


def customer_section(customer_id: str, token_secret: str, ttl_s: int = 600) -> str:
    """customer/section/load's answer for a logged-in customer: the module's SectionData."""
    code = ("require 'magento-module/Dmfrec/Recommendations/Test/bootstrap.php';"
            "echo json_encode(['dmfrec' => (new Dmfrec\\Recommendations\\Model\\SectionData())"
            f"->build({customer_id!r}, {token_secret!r}, {int(ttl_s)}, time())]);")
    return subprocess.run([php(), "-r", code], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout


def page(cached: str, section_url: str, *, head: str = "", before: str = "",
         after: str = "") -> str:
    """A storefront page around the cached block; the module's script is `recommendations.js`
    beside the page, the visitor's section is fetched from `section_url`."""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>"
            f"<script>var SECTION_URL = {section_url!r};</script>{MAGENTO_STANDIN}"
            f"{before}{cached}{after}<script src='recommendations.js'></script>{APPLY}"
            "</body></html>")


def install_module_files(folder: Path) -> None:
    """Put the module's script beside the pages and its stylesheet where `cached_block` with
    static_base '<page origin>/static' names it."""
    shutil.copy(MODULE_JS, folder / "recommendations.js")
    css = folder / "static/Dmfrec_Recommendations/css"
    css.mkdir(parents=True, exist_ok=True)
    shutil.copy(MODULE_CSS, css / "recommendations.css")
