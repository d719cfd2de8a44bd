"""The Magento module as a whole: its XML against Magento's own XSDs, its PHPUnit suite (real
MariaDB, real HTTP), what the full-page cache stores, the order events it listens to, its
packaging, and the delivery time from an order's commit to dmfrec's 202 (real gunicorn).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from storage.models import Base, Event
from tests.conftest import TEST_GUEST_SALT, TEST_REDIS_URL, free_port, stop
from tests.storage.storage_dbs import MariaDB
from webhook import tokens

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "magento-module" / "Dmfrec" / "Recommendations"
HERE = Path(__file__).parent
VALIDATOR = REPO.parent / "shared" / "magento" / "validate_xml.py"
SECRET = "whsec_c2VjcmV0LWZvci10ZXN0cy1vbmx5LTEyMzQ1Njc4OTA="


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"Debian's {name} is needed (.ci/run installs it)"
    return path


@pytest.fixture(scope="module")
def php() -> str:
    return _tool("php")


@pytest.fixture(scope="module")
def mariadb():
    server = MariaDB()
    yield server
    server.drop_all()


def _pdo_dsn(url: str) -> str:
    u = make_url(url)
    return f"mysql:host={u.host};port={u.port or 3306};dbname={u.database};charset=utf8mb4"


def test_every_xml_file_validates_against_magentos_xsds():
    assert VALIDATOR.is_file(), f"{VALIDATOR} (Magento's XSDs beside the checkout) is missing"
    files = sorted(str(f) for f in MODULE.rglob("*.xml") if "Test" not in f.parts)
    assert len(files) >= 16
    done = subprocess.run([sys.executable, str(VALIDATOR), *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok ") == len(files)


def test_phpunit_suite_passes(php, mariadb):
    url = mariadb.new_database("php")
    env = {**os.environ, "DMFREC_TEST_MYSQL_DSN": _pdo_dsn(url),
           "DMFREC_TEST_MYSQL_USER": make_url(url).username or "root",
           "DMFREC_TEST_MYSQL_PASSWORD": make_url(url).password or ""}
    done = subprocess.run([_tool("phpunit"), "-c", "Test/phpunit.xml.dist"], cwd=MODULE, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    tests = int(re.search(r"OK \((\d+) tests", done.stdout).group(1))
    assert tests >= 16


def _render(php: str, *args: str) -> str:
    return subprocess.run([php, str(HERE / "render_widget.php"), *args], capture_output=True,
                          text=True, check=True).stdout


def test_the_cached_widget_html_holds_no_customer_data(php):
    """What the full-page cache stores is the placeholder and the script, nothing personal."""
    html = _render(php, "https://reco.example", "6", "1")
    assert 'class="dmfrec-placeholder"' in html
    assert '"Dmfrec_Recommendations/js/recommendations"' in html
    for personal in ("data-customer", "data-token", "token", "customer", "v1."):
        assert personal not in html.lower().replace("dmfrec-recommendations", "")
    # The template and the block get nothing that could identify the visitor.
    template = (MODULE / "view/frontend/templates/recommendations.phtml").read_text()
    assert set(re.findall(r"\$block->(\w+)", template)) == {"getData", "getWidgetConfig",
                                                              "getViewFileUrl"}
    assert 'href="https://shop.example/static/frontend/Magento/luma/en_US/Dmfrec_Recommendations/' \
        'css/recommendations.css"' in html  # the cards' stylesheet, with the widget wherever placed
    block = (MODULE / "Block/Recommendations.php").read_text()
    for private in ("Session", "CurrentCustomer", "TokenMinter", "HttpContext", "getCacheLifetime"):
        assert private not in block
    # One block with cacheable="false" makes Magento's full-page cache skip the whole page.
    for layout in (MODULE / "view/frontend/layout").glob("*.xml"):
        assert all(el.get("cacheable") != "false" for el in ElementTree.parse(layout).iter())
    # The token travels in the `dmfrec` customer-data section, registered for the frontend.
    di = ElementTree.parse(MODULE / "etc/frontend/di.xml").getroot()
    sources = {i.get("name"): i.text for i in di.iter("item")}
    assert sources == {"dmfrec": "Dmfrec\\Recommendations\\CustomerData\\Recommendations"}
    script = (MODULE / "view/frontend/web/js/recommendations.js").read_text()
    assert "customerData.get('dmfrec')" in script and "data-token" in script


def test_the_section_token_is_one_dmfrec_accepts(php):
    code = ("require 'magento-module/Dmfrec/Recommendations/Test/bootstrap.php';"
            "echo json_encode((new Dmfrec\\Recommendations\\Model\\SectionData())"
            "->build('42', 'token-secret', 600, time()));")
    data = json.loads(subprocess.run([php, "-r", code], cwd=REPO, capture_output=True,
                                     text=True, check=True).stdout)
    claims = tokens.verify("token-secret", data["token"], max_ttl_s=3600)
    assert claims.customer_id == "42" and data["customer_id"] == "42"
    assert abs(data["expires"] - (time.time() + 600)) < 5


def test_orders_are_observed_only_after_commit():
    events = ElementTree.parse(MODULE / "etc/events.xml").getroot()
    names = {e.get("name") for e in events.iter("event")}
    assert "sales_order_save_commit_after" in names
    assert not names & {"order_cancel_after", "sales_order_creditmemo_save_after",
                        "sales_order_place_after", "sales_order_save_after"}
    assert all(n.endswith(("_commit_after", "_website_change")) for n in names)


def test_a_placed_order_is_stamped_with_the_guest_session():
    """The plugin that stamps the `dmfrec_session` cookie on a placed order is declared
    globally on the service every checkout places through, and the column it fills exists."""
    di = ElementTree.parse(MODULE / "etc/di.xml").getroot()
    plugins = {t.get("name"): p.get("type") for t in di.iter("type") for p in t.iter("plugin")}
    assert plugins["Magento\\Sales\\Api\\OrderManagementInterface"] == \
        "Dmfrec\\Recommendations\\Plugin\\OrderSessionPlugin"
    plugin = (MODULE / "Plugin/OrderSessionPlugin.php").read_text()
    assert "public function beforePlace(OrderManagementInterface $subject, OrderInterface $order)" \
        in plugin
    schema = ElementTree.parse(MODULE / "etc/db_schema.xml").getroot()
    order = next(t for t in schema.iter("table") if t.get("name") == "sales_order")
    assert order.get("resource") == "sales"
    assert [(c.get("name"), c.get("length"), c.get("nullable")) for c in order.iter("column")] \
        == [("dmfrec_session_id", "64", "true")]


def test_msi_stock_changes_without_a_product_save_send_catalogue_states():
    """Source items saved, deleted or decremented and reservations' salability updates (MSI,
    Magento 2.4.6's own services) are intercepted after MSI's plugins, by plugins that queue
    the SKUs (Model\\Catalog\\SkuQueue, PHPUnit-tested) for the catalogue sync by SKU."""
    di = ElementTree.parse(MODULE / "etc/di.xml").getroot()
    plugins = {(t.get("name"), p.get("type"), p.get("sortOrder"))
               for t in di.iter("type") for p in t.iter("plugin")}
    source, salability = ("Dmfrec\\Recommendations\\Plugin\\SourceItemsPlugin",
                          "Dmfrec\\Recommendations\\Plugin\\SalabilityPlugin")
    assert {("Magento\\InventoryApi\\Api\\SourceItemsSaveInterface", source, "1000"),
            ("Magento\\InventoryApi\\Api\\SourceItemsDeleteInterface", source, "1000"),
            ("Magento\\Inventory\\Model\\SourceItem\\Command\\DecrementSourceItemQty", source,
             "1000"),
            ("Magento\\InventoryIndexer\\Model\\Queue\\UpdateIndexSalabilityStatus", salability,
             "1000")} <= plugins
    for name in ("SourceItemsPlugin", "SalabilityPlugin"):
        code = (MODULE / f"Plugin/{name}.php").read_text()
        assert "public function afterExecute(object $subject" in code
        assert "$this->sync->syncSkus($this->queue->take())" in code
    sync = (MODULE / "Model/Catalog/Sync.php").read_text()
    assert "getProductsIdsBySkus" in sync and "public function syncSkus(array $skus): int" in sync


def test_packaging():
    composer = json.loads((MODULE / "composer.json").read_text())
    assert composer["type"] == "magento2-module"
    assert composer["require"]["php"] == ">=8.1"
    assert composer["require"]["magento/framework"].startswith("^103")
    sequence = {m.get("name") for m in ElementTree.parse(MODULE / "etc/module.xml").iter("module")}
    assert sequence >= {"Magento_Store", "Magento_Catalog", "Magento_Widget", "Magento_Sales",
                        "Magento_Customer"}
    # Every Magento module composer requires is in the load sequence, and no other.
    required = {"Magento_" + "".join(w.title() for w in name[len("magento/module-"):].split("-"))
                for name in composer["require"] if name.startswith("magento/module-")}
    assert sequence - {"Dmfrec_Recommendations"} == required
    # Every secret of the config page is sensitive (kept out of app:config:dump's config.php).
    system = ElementTree.parse(MODULE / "etc/adminhtml/system.xml").getroot()
    obscure = {f"dmfrec/{g.get('id')}/{f.get('id')}" for g in system.iter("group")
               for f in g.iter("field") if f.get("type") == "obscure"}
    di = ElementTree.parse(MODULE / "etc/di.xml").getroot()
    sensitive = {i.get("name") for a in di.iter("argument") if a.get("name") == "sensitive"
                 for i in a.iter("item")}
    assert obscure == sensitive == {"dmfrec/general/webhook_secret", "dmfrec/general/token_secret"}
    # The connection (URL and both secrets) may be set per website; timeouts are global.
    general = next(g for g in system.iter("group") if g.get("id") == "general")
    website = {f.get("id") for f in general.iter("field") if f.get("showInWebsite") == "1"}
    assert website == {"enabled", "endpoint", "webhook_secret", "token_secret"}
    config = (MODULE / "Model/Config.php").read_text()
    assert "public function endpoint(?int $websiteId = null): string" in config
    assert "ScopeInterface::SCOPE_WEBSITE, $websiteId" in config
    # db_schema_whitelist.json lists exactly what db_schema.xml declares.
    schema = ElementTree.parse(MODULE / "etc/db_schema.xml").getroot()
    whitelist = json.loads((MODULE / "etc/db_schema_whitelist.json").read_text())
    for table in schema.iter("table"):
        listed = whitelist[table.get("name")]
        assert set(listed["column"]) == {c.get("name") for c in table.findall("column")}
        assert set(listed.get("index", {})) == {i.get("referenceId") for i in table.iter("index")}
        assert set(listed.get("constraint", {})) == {c.get("referenceId")
                                                     for c in table.findall("constraint")}
    assert set(whitelist) == {t.get("name") for t in schema.iter("table")}
    # Its own cron group; no default dmfrec URL; widget off until configured.
    crontab = ElementTree.parse(MODULE / "etc/crontab.xml").getroot()
    assert [g.get("id") for g in crontab.iter("group")] == ["dmfrec"]
    config = (MODULE / "etc/config.xml").read_text()
    assert "127.0.0.1" not in config and "<endpoint/>" in config
    csv_rows = (MODULE / "i18n/en_US.csv").read_text().splitlines()
    assert len(csv_rows) >= 30 and all(r.startswith('"') for r in csv_rows)
    info = (MODULE / "Controller/Products/Info.php").read_text()
    assert "'Cache-Control', 'private, max-age=60'" in info and "'public" not in info


def test_the_commands_and_the_status_row_are_registered():
    """The README's commands exist under their names, in Magento's command list; the config
    page's "Delivery status" row is the module's status block."""
    di = ElementTree.parse(MODULE / "etc/di.xml").getroot()
    commands = next(a for a in di.iter("argument") if a.get("name") == "commands")
    names = set()
    for item in commands.iter("item"):
        cls = item.text.removesuffix("\\Proxy").removeprefix("Dmfrec\\Recommendations\\")
        code = (MODULE / (cls.replace("\\", "/") + ".php")).read_text()
        names |= set(re.findall(r"setName\('([\w:]+)'\)", code))
    assert names == {"dmfrec:backfill", "dmfrec:outbox:retry", "dmfrec:outbox:status"}
    backfill = (MODULE / "Console/Command/Backfill.php").read_text()
    assert "addOption('from'" in backfill and "new ProgressBar(" in backfill
    system = ElementTree.parse(MODULE / "etc/adminhtml/system.xml").getroot()
    status = next(f for f in system.iter("field") if f.get("id") == "outbox_status")
    assert status.findtext("frontend_model") == \
        "Dmfrec\\Recommendations\\Block\\Adminhtml\\System\\OutboxStatus"


@pytest.fixture
def webhook_server(tmp_path, mariadb, r):
    url = mariadb.new_database("web")
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "DMFREC_DATABASE_URL": url,
           "DMFREC_REDIS_URL": TEST_REDIS_URL, "DMFREC_BROKER_URL": TEST_REDIS_URL,
           "DMFREC_WEBHOOK_SECRETS": SECRET, "DMFREC_GUEST_SALT": TEST_GUEST_SALT,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
           "WEB_CONCURRENCY": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.2)
    yield base, engine
    stop(proc)
    engine.dispose()


def test_order_commit_to_202_under_two_seconds_p95(php, mariadb, webhook_server):
    """The module's PHP sender against the real webhook (gunicorn, MariaDB, Redis)."""
    base, engine = webhook_server
    n = 40
    done = subprocess.run([php, str(HERE / "send_orders.php"), base, SECRET,
                           _pdo_dsn(mariadb.new_database("shop")), str(n)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["statuses"] == ["sent"] * n
    seconds = sorted(result["seconds"])
    p95 = seconds[int(0.95 * n) - 1]
    print(f"order commit -> 202: p50 {seconds[n // 2] * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    assert p95 < 2.0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Event)) == n


def test_while_dmfrec_hangs_only_the_first_checkouts_wait(php, mariadb):
    """The worst outage: dmfrec accepts connections and never answers, so every send waits out
    its timeout. With the module's breaker (3 failures in a row) only the first three orders
    wait; the next ones skip the send at once and stay pending in the outbox for cron."""
    n, timeout = 8, 0.5
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)  # the kernel completes the connections; nobody ever reads them
        done = subprocess.run([php, str(HERE / "send_orders.php"),
                               f"http://127.0.0.1:{hole.getsockname()[1]}", SECRET,
                               _pdo_dsn(mariadb.new_database("down")), str(n), str(timeout)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["statuses"] == ["pending"] * n
    waits = result["seconds"]
    print("order commit -> observer done while dmfrec hangs: "
          + ", ".join(f"{s * 1000:.0f} ms" for s in waits))
    assert all(timeout * 0.9 < s < timeout + 1.0 for s in waits[:3]), waits
    assert all(s < 0.1 for s in waits[3:]), waits
