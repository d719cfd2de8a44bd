"""The standalone widget script and the demo page (demo mode only), on the real Redis."""

from __future__ import annotations

import re

from webhook import tokens


def test_widget_script_is_served(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    text = response.get_data(as_text=True)
    assert "data-dmfrec" in text and "/v1/popular" in text and "Authorization" in text


def test_demo_page_is_off_unless_demo_mode(client):
    assert client.get("/demo").status_code == 404
    assert client.post("/demo/orders", data={"customer": "1", "sku": "A"}).status_code == 404


def test_demo_page_mints_a_token_for_its_customer_and_places_orders(
        make_app, settings, recorded, queued):
    app = make_app(settings.model_copy(update={"demo": True, "demo_page": True}))
    client = app.test_client()
    page = client.get("/demo?customer=7").get_data(as_text=True)
    token = re.search(r'data-token="([^"]+)"', page).group(1)
    assert tokens.verify(settings.token_secret, token).customer_id == "7"
    assert 'data-customer="7"' in page and "/widget.js" in page
    for customer in ("x", "²", "١"):
        assert client.get("/demo", query_string={"customer": customer}).status_code == 400
    assert client.post("/demo/orders", data={"customer": "7", "sku": ""}).status_code == 400
    assert recorded() == []
    response = client.post("/demo/orders", data={"customer": "7", "sku": "SKU-A"})
    assert response.status_code == 303 and response.location.endswith("/demo?customer=7")
    [(event_id, status)] = recorded()
    assert status == "pending" and queued() == [[event_id]]
