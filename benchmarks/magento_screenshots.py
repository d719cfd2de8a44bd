r"""Screenshots of the Magento module's widget on a product page and on the home page, for
magento-module/README.md: widget-{product,home}-{guest,customer}.png.

    python -m benchmarks.magento_screenshots [--out magento-module/docs] [--redis-url URL]

No Magento runs here. The pages are stand-ins (Luma-like markup and styles written below). On
the product page the block sits below the product, where the module's catalog_product_view.xml
puts it. On the home page it is a CMS widget, after the CMS page's banners:
    {{widget type="Dmfrec\Recommendations\Block\Recommendations" title="Picked for you" limit="6"}}
Inside each is exactly what the module's block renders and Magento's full-page cache would
store (the module's real template, rendered by php, with its real stylesheet and script),
driven by the stand-in for Magento's RequireJS and customer-data of `benchmarks.magento_storefront`.
The lists come over HTTP from the real dmfrec app (webhook.create_app on the real Redis): the
guest's page calls `/v1/popular`, the logged-in customer's page `/v1/customers/42/recommendations`
with the token the module's SectionData mints. The lists are published into Redis as the nightly
retrain publishes them; the product cards (name, price, image, link) come from a static file
standing in for the module's `dmfrec/products/info` route. Headless Chromium (Debian's chromium
and chromium-driver) takes the pictures.

The Redis database must be empty (it is emptied again at the end).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import logging
import secrets
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis as redis_lib
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from benchmarks.magento_storefront import (
    GUEST_SECTION,
    REPO,
    cached_block,
    customer_section,
    install_module_files,
    page,
)
from config.settings import Settings
from storage.models import Base
from webhook import create_app, services
from worker import publish

DEFAULT_OUT = REPO / "magento-module/docs"
WIDTH = 1100
LIMIT = 6
CUSTOMER = "42"

# sku: (name, price, picture, colour)
CATALOGUE = {
    "BAG-CANVAS": ("Canvas Tote Bag", "$18.00", "bag", "#c9a66b"),
    "MUG-RED": ("Enamel Camp Mug, Red", "$12.00", "mug", "#c0392b"),
    "MUG-BLUE": ("Enamel Camp Mug, Blue", "$12.00", "mug", "#2e6da4"),
    "TEE-GREEN": ("Organic Cotton Tee, Green", "$24.00", "tee", "#3c8d5a"),
    "TEE-NAVY": ("Organic Cotton Tee, Navy", "$24.00", "tee", "#27364f"),
    "CAP-BLACK": ("Six-Panel Cap, Black", "$16.00", "cap", "#2b2b2b"),
    "CAP-SAND": ("Six-Panel Cap, Sand", "$16.00", "cap", "#d8c39a"),
    "BOTTLE-STEEL": ("Steel Water Bottle, 750 ml", "$22.00", "bottle", "#8a9aa6"),
    "BOTTLE-MINT": ("Steel Water Bottle, Mint", "$22.00", "bottle", "#7ccfb5"),
    "TEE-OCHRE": ("Organic Cotton Tee, Ochre", "$24.00", "tee", "#c98b2b"),
}
PRODUCT = "BAG-CANVAS"  # the product page's own product
HOME_TITLE = "Picked for you"  # the CMS widget's title argument
PAGES = ("product", "home")
POPULAR = ["TEE-NAVY", "MUG-RED", "BOTTLE-STEEL", "CAP-BLACK", "TEE-GREEN", "MUG-BLUE"]
PERSONAL = ["BOTTLE-MINT", "CAP-SAND", "TEE-OCHRE", "MUG-BLUE", "TEE-GREEN", "CAP-BLACK"]

PICTURES = {  # simple flat shapes on a 100 x 100 canvas
    "bag": "<path d='M22 38h56l-5 48H27z' fill='{c}'/><path d='M38 38c0-18 24-18 24 0' "
           "fill='none' stroke='{c}' stroke-width='5'/>",
    "mug": "<rect x='22' y='28' width='42' height='50' rx='5' fill='{c}'/><path d='M64 40h8a10 "
           "10 0 0 1 0 22h-8' fill='none' stroke='{c}' stroke-width='6'/>",
    "tee": "<path d='M36 20l-20 12 8 14 8-4v40h36V42l8 4 8-14-20-12c-2 8-26 8-28 0z' fill='{c}'/>",
    "cap": "<path d='M24 62a26 26 0 0 1 52 0z' fill='{c}'/><path d='M20 62h66c0 6-10 8-20 8H20z' "
           "fill='{c}' opacity='.8'/>",
    "bottle": "<rect x='40' y='14' width='20' height='10' rx='2' fill='#555'/><rect x='33' y='24' "
              "width='34' height='64' rx='10' fill='{c}'/>",
}

STYLE = """<style>
body { margin: 0; font: 14px/1.43 'Liberation Sans', 'DejaVu Sans', sans-serif; color: #333; }
a { color: #006bb4; }
.panel { background: #6e716e; color: #fff; font-size: 13px; padding: 6px 30px; text-align: right; }
.panel a { color: #fff; text-decoration: none; margin-left: 12px; }
.header { display: flex; align-items: center; gap: 40px; padding: 18px 30px; }
.logo { font-size: 26px; font-weight: 700; letter-spacing: 2px; color: #1979c3; }
.search { flex: 1; max-width: 420px; margin-left: auto; border: 1px solid #c2c2c2; padding: 7px 9px;
  color: #999; }
.nav { background: #f0f0f0; padding: 12px 30px; font-weight: 600; }
.nav span { margin-right: 28px; }
.page { padding: 0 30px 10px; }
.crumbs { font-size: 12px; color: #777; margin: 14px 0 18px; }
.product { display: flex; gap: 40px; }
.media { width: 420px; height: 340px; background: #f5f5f5; }
.info h1 { font-size: 34px; font-weight: 300; margin: 0 0 12px; }
.price { font-size: 28px; font-weight: 600; margin: 14px 0 6px; }
.stock { font-size: 12px; text-transform: uppercase; font-weight: 700; color: #555; }
.sku { font-size: 12px; color: #777; margin-left: 20px; }
.cart { display: flex; gap: 14px; align-items: center; margin-top: 24px; }
.qty { width: 46px; border: 1px solid #c2c2c2; padding: 9px; text-align: center; }
.tocart { background: #1979c3; color: #fff; font-weight: 600; font-size: 17px; padding: 12px 36px; }
.about { margin-top: 22px; color: #555; max-width: 520px; }
.hero { display: flex; align-items: center; justify-content: space-between; background: #e9e2d3;
  height: 300px; margin-top: 20px; padding: 0 60px; }
.hero h1 { font-size: 44px; font-weight: 300; margin: 0 0 10px; }
.hero p { font-size: 18px; margin: 0 0 22px; }
.hero img { width: 250px; height: 250px; }
.tiles { display: flex; gap: 20px; margin: 20px 0 10px; }
.tile { flex: 1; padding: 26px 24px; color: #fff; font-size: 22px; font-weight: 300; }
.tile small { display: block; font-size: 14px; margin-top: 6px; }
.footer { border-top: 1px solid #ddd; margin: 20px 30px 0; padding: 10px 0 14px; font-size: 11px;
  color: #999; }
</style>"""


@dataclass(frozen=True)
class Shot:
    """One screenshot: which page, who visits, what the widget showed, where the picture is."""

    page: str
    who: str
    state: str
    cards: list[str]
    path: Path
    bytes: int
    size: tuple[int, int]


def picture(sku: str) -> str:
    _, _, kind, colour = CATALOGUE[sku]
    return ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'>"
            + PICTURES[kind].format(c=colour) + "</svg>")


def chrome(customer_name: str | None) -> str:
    """Luma-like header of every page: the account links, logo, search and menu."""
    account = (f"<span>Welcome, {customer_name}!</span><a href='#'>My Account</a>"
               "<a href='#'>Sign Out</a>" if customer_name else
               "<a href='#'>Sign In</a><a href='#'>Create an Account</a>")
    return f"""<div class="panel">{account}</div>
<div class="header"><span class="logo">DEMO STORE</span><span class="search">Search entire store
here...</span></div>
<div class="nav"><span>What's New</span><span>Women</span><span>Men</span><span>Gear</span>
<span>Sale</span></div>"""


def home_page(cached: str, section_url: str, customer_name: str | None) -> str:
    """The stand-in home page: a CMS page's content (a banner, three promotion tiles) with the
    cached block where the CMS widget directive stands, after them."""
    tiles = "".join(f'<div class="tile" style="background:{colour}">{text}<small>{small}</small>'
                    "</div>" for colour, text, small in (
                        ("#3c8d5a", "Free shipping", "on orders over $50"),
                        ("#2e6da4", "New caps in", "six colours, one size"),
                        ("#c98b2b", "Gift cards", "from $10")))
    before = f"""{chrome(customer_name)}<div class="page">
<div class="hero"><div><h1>Carry the summer</h1><p>Canvas bags, enamel mugs and steel bottles for
days outside.</p><span class="tocart">Shop Gear</span></div><img src="img/{PRODUCT}.svg" alt="">
</div><div class="tiles">{tiles}</div>"""
    after = """</div><div class="footer">Stand-in home page (not Magento): a CMS page whose content
holds the dmfrec Recommendations widget; the block is the Dmfrec_Recommendations template,
stylesheet and script; lists from a live dmfrec.</div>"""
    return page(cached, section_url, head=STYLE, before=before, after=after)


def product_page(cached: str, section_url: str, customer_name: str | None) -> str:
    """The stand-in product page: Luma-like chrome around the cached block in `content.aside`
    (below the product, where the module's catalog_product_view.xml places it)."""
    name, price, _, _ = CATALOGUE[PRODUCT]
    before = f"""{chrome(customer_name)}
<div class="page"><div class="crumbs">Home &gt; Gear &gt; Bags &gt; {name}</div>
<div class="product"><img class="media" src="img/{PRODUCT}.svg" alt="">
<div class="info"><h1>{name}</h1><div class="price">{price}</div>
<span class="stock">In stock</span><span class="sku">SKU#: {PRODUCT}</span>
<div class="cart"><span>Qty</span><span class="qty">1</span><span class="tocart">Add to Cart</span>
</div><p class="about">Heavy cotton canvas, long handles, an inside pocket. Carries a day's
shopping or a laptop.</p></div></div>"""
    after = """</div><div class="footer">Stand-in product page (not Magento): the recommendations
block is the Dmfrec_Recommendations template, stylesheet and script; lists from a live dmfrec.
</div>"""
    return page(cached, section_url, head=STYLE, before=before, after=after)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def chromium(width: int, height: int) -> webdriver.Chrome:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "Debian's chromium and chromium-driver are needed (.ci/run)"
    options = Options()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--hide-scrollbars", "--force-device-scale-factor=1",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


@contextmanager
def serve(settings: Settings, folder: Path, page_port: int) -> Iterator[str]:
    """dmfrec's app on a free port, the pages folder on `page_port`; yields the API's URL."""
    app = create_app(settings)
    with app.app_context():
        Base.metadata.create_all(services.engine())
    api = make_server("127.0.0.1", 0, app, threaded=True)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
    for server in (api, pages):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{api.server_port}"
    finally:
        api.shutdown()
        pages.shutdown()
        with app.app_context():
            services.engine().dispose()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the pages' requests are not news
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shoot(browser: webdriver.Chrome, url: str, path: Path) -> tuple[str, list[str]]:
    """Load `url`, wait for the widget's list and its images, save the whole page as PNG."""
    browser.get(url)
    WebDriverWait(browser, 20).until(lambda b: b.execute_script(
        "var el = document.querySelector('.dmfrec-placeholder');"
        "return el.getAttribute('data-state') && Array.prototype.every.call("
        "document.images, function (i) { return i.complete && i.naturalWidth > 0; });"))
    state, cards = browser.execute_script(
        "var el = document.querySelector('.dmfrec-placeholder');"
        "return [el.getAttribute('data-state'), Array.prototype.map.call("
        "el.querySelectorAll('.dmfrec-card'),"
        " function (a) { return a.getAttribute('data-sku'); })];")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    # The viewport itself (a window's size counts its frame): the picture is the whole page.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": int(height), "deviceScaleFactor": 1, "mobile": False})
    browser.save_screenshot(str(path))
    return state, cards


def run(out: Path, redis_url: str) -> list[Shot]:
    """Publish the lists, serve dmfrec and the pages, and write widget-{page}-{who}.png for
    both pages (product, home) and both visitors (guest, customer)."""
    r = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    if r.dbsize():
        raise SystemExit(f"{redis_url} is not empty: give an unused Redis database (--redis-url)")
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    try:
        publish.publish_user_lists(r, "v1", {CUSTOMER: [(s, 1 - k / 10)
                                                        for k, s in enumerate(PERSONAL)]})
        publish.activate_version(r, "v1")
        publish.publish_popular(r, [(s, 100.0 - k) for k, s in enumerate(POPULAR)])
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            port = _free_port()
            origin = f"http://127.0.0.1:{port}"
            settings = Settings(
                database_url=f"sqlite:///{folder / 'dmfrec.db'}", redis_url=redis_url,
                broker_url=redis_url, model_dir=folder / "models", cors_origins=origin,
                token_secret=secrets.token_hex(32), guest_salt=secrets.token_hex(16),
                experiment_refresh_s=0)
            install_module_files(folder)
            (folder / "img").mkdir()
            for sku in CATALOGUE:
                (folder / "img" / f"{sku}.svg").write_text(picture(sku))
            info = {sku: {"name": name, "price": price, "url": f"{origin}/#{sku}",
                          "image": f"{origin}/img/{sku}.svg"}
                    for sku, (name, price, _, _) in CATALOGUE.items()}
            (folder / "products.json").write_text(json.dumps(info))
            with serve(settings, folder, port) as api:
                products = f"{origin}/products.json"
                static = f"{origin}/static"
                pages = {  # the layout's block (its title) and the CMS widget (its own title)
                    "product": (product_page, cached_block(api, LIMIT, products,
                                                           static_base=static)),
                    "home": (home_page, cached_block(api, LIMIT, products, static_base=static,
                                                     title=HOME_TITLE))}
                sections = {"guest": (GUEST_SECTION, None),
                            "customer": (customer_section(CUSTOMER, settings.token_secret),
                                         "Jane Doe")}
                for who, (section, _) in sections.items():
                    (folder / f"{who}.json").write_text(section)
                browser = chromium(WIDTH, 900)
                try:
                    for name, (build, cached) in pages.items():
                        for who, (_, customer_name) in sections.items():
                            html = folder / f"{name}-{who}.html"
                            html.write_text(build(cached, f"{who}.json", customer_name))
                            path = out / f"widget-{name}-{who}.png"
                            state, cards = _shoot(browser, f"{origin}/{html.name}", path)
                            data = path.read_bytes()
                            shots.append(Shot(name, who, state, cards, path, len(data),
                                              png_size(data)))
                finally:
                    browser.quit()
    finally:
        r.flushdb()
        r.close()
    return shots


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14",
                        help="an empty Redis database (emptied again at the end)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not every request of the pages
    for shot in run(args.out, args.redis_url):
        print(f"{shot.path}: {shot.page}, {shot.who}, widget {shot.state} {shot.cards}, "
              f"{shot.size[0]}x{shot.size[1]}, {shot.bytes / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
