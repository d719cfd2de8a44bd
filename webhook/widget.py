"""The standalone storefront widget (``/widget.js``) and, in demo mode, a demo storefront page.

The widget is for shops without the Magento module: one script and one ``<div data-dmfrec>``.
The demo page (``DMFREC_DEMO_PAGE=1`` with ``DMFREC_DEMO=1``, both set by ``dmfrec demo`` only)
shows one customer's list, refreshed every 2 s, and a form that places an order for that
customer through the same recording path as the signed webhook, so the list is seen to change
live.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from flask import Blueprint, Response, abort, redirect, request, send_file, url_for

from webhook import services, tokens
from webhook.query import DemoQuery, parse

bp = Blueprint("widget", __name__)
SCRIPT = Path(__file__).parent / "static" / "dmfrec-widget.js"


@bp.get("/widget.js")
def widget_js() -> Response:
    response = send_file(SCRIPT, mimetype="text/javascript", max_age=300)
    return response


def _demo_only() -> None:
    settings = services.settings()
    if not (settings.demo and settings.demo_page):  # both: the settings refuse one alone
        abort(404)


@bp.get("/demo")
def demo_page() -> Response:
    """One customer's live list (``?customer=ID``, default 1) and a form to buy a SKU."""
    _demo_only()
    settings = services.settings()
    customer = parse(DemoQuery).customer
    token = tokens.mint(settings.token_secret, customer, ttl_s=settings.token_max_ttl_s)
    c = html.escape(customer)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>dmfrec demo</title>
<style>body{{font-family:sans-serif;margin:2em}}.dmfrec-card{{display:inline-block;
border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:.3em}}</style></head><body>
<h1>Recommendations for customer {c}</h1>
<div id="reco" data-dmfrec data-customer="{c}" data-token="{html.escape(token)}"
 data-limit="8" data-refresh="2"></div>
<h2>Popular</h2><div id="popular" data-dmfrec data-limit="8"></div>
<form method="post" action="{url_for('widget.demo_order')}">
<input type="hidden" name="customer" value="{c}">
<label>Buy SKU <input name="sku" required></label> <button>Place order</button></form>
<script src="{url_for('widget.widget_js')}"></script></body></html>"""
    return Response(page, mimetype="text/html")


@bp.post("/demo/orders")
def demo_order() -> Response:
    """Place a one-line order for the demo customer; recorded and enqueued like a webhook."""
    _demo_only()
    from webhook.webhooks import MAGENTO, _record

    customer, sku = request.form.get("customer", ""), request.form.get("sku", "").strip()
    if not (customer.isascii() and customer.isdigit()) or not sku:
        abort(400, "customer (numeric) and sku are required")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    entity = time.time_ns() // 1000 % 2_000_000_000
    _record(MAGENTO, {"event_id": f"demo-page-{entity}", "order": {
        "entity_id": entity, "increment_id": str(entity), "customer_id": int(customer),
        "customer_email": f"{customer}@demo.example", "state": "processing",
        "status": "processing", "created_at": stamp, "updated_at": stamp,
        "items": [{"item_id": 1, "sku": sku, "qty_ordered": 1, "price": 10,
                   "row_total": 10}]}})
    return redirect(url_for("widget.demo_page", customer=customer), code=303)
