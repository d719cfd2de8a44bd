"""Liveness, readiness against real (and really unreachable) services, metrics, OpenAPI."""

from __future__ import annotations

import re

from webhook.openapi import document


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_when_everything_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_names_a_down_redis(make_app, settings, closed_port_redis):
    app = make_app(settings.model_copy(update={"redis_url": closed_port_redis}))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["down"] == ["redis"]


def test_readyz_names_a_down_database(make_app, settings):
    app = make_app(settings.model_copy(
        update={"database_url": "mysql+pymysql://root@127.0.0.1:1/test"}))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["down"] == ["database"]


def test_readyz_with_mariadb(make_app, settings):
    app = make_app(settings.model_copy(
        update={"database_url": "mysql+pymysql://root@127.0.0.1:3306/test"}))
    assert app.test_client().get("/readyz").status_code == 200


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_and_webhook_outcomes(client, post_order, make_event):
    before = client.get("/metrics").get_data(as_text=True)
    post_order(make_event("evt-m"))
    post_order(make_event("evt-m"))
    post_order(make_event(), secret="wrong")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    after = response.get_data(as_text=True)
    for outcome, n in (("accepted", 1), ("duplicate", 1), ("unauthorized", 1)):
        delta = (_sample(after, "dmfrec_webhook_events_total", source="magento", outcome=outcome)
                 - _sample(before, "dmfrec_webhook_events_total", source="magento",
                           outcome=outcome))
        assert delta == n, outcome
    assert _sample(after, "dmfrec_http_request_seconds_count",
                   endpoint="webhooks.magento_order", status="202") >= 1


def test_openapi_describes_every_route(app, client):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules() if rule.endpoint != "static"
    }
    assert routes - {"/openapi.json"} <= set(doc["paths"])
    snapshot = doc["components"]["schemas"]["SnapshotEvent"]
    assert {"event_id", "order"} <= set(snapshot["required"])
    # Every $ref resolves inside the document.
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(doc).replace("'", '"')))
    assert refs <= set(doc["components"]["schemas"])
    assert document() == doc
