"""Recommendation ids on every storefront answer, and the impression/click report endpoint:
genuine reports are stored once; forged, oversized or foreign ones are refused, writing nothing.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from storage.analytics_models import RecEvent
from webhook import services
from worker import publish


@pytest.fixture
def lists(r):
    publish.publish_user_lists(r, "v1", {"5": [(f"SKU-{k}", 1 - k / 10) for k in range(6)]})
    publish.activate_version(r, "v1")
    publish.publish_popular(r, [("POP-1", 9.0), ("POP-2", 8.0), ("POP-3", 7.0)])


def _rows(app) -> list[tuple]:
    with app.app_context(), services.engine().connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(RecEvent.rec_id, RecEvent.sku, RecEvent.kind, RecEvent.position,
                   RecEvent.subject, RecEvent.arm).order_by(RecEvent.sku, RecEvent.kind))]


def _report(rec: dict, events: list[dict], token: str | None = None) -> dict:
    skus = sorted(rec["positions"], key=rec["positions"].get)
    served = {k: rec[k] for k in ("id", "subject", "experiment", "arm", "version", "day")}
    body = {"reports": [{"recommendation": served | {"skus": skus}, "events": events}]}
    if token:
        body["token"] = token
    return body


def _send(client, body) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v1/analytics/events", data=raw, content_type="text/plain")


def test_every_answer_carries_a_recommendation(client, lists, token):
    mine = client.get("/v1/customers/5/recommendations?limit=3",
                      headers={"Authorization": f"Bearer {token('5')}"}).get_json()
    rec = mine["recommendation"]
    assert rec["subject"] == "5" and rec["arm"] == "dmf" and rec["version"] == "v1"
    assert rec["positions"] == {"SKU-0": 1, "SKU-1": 2, "SKU-2": 3}
    assert len(rec["id"]) == 32
    again = client.get("/v1/customers/5/recommendations?limit=3",
                       headers={"Authorization": f"Bearer {token('5')}"}).get_json()
    assert again["recommendation"]["id"] == rec["id"]  # a reload: the same id
    assert "recommendation" not in client.get("/v1/popular?limit=2").get_json()  # not the widget
    guest = client.get("/v1/popular?limit=2&session=new")
    body = guest.get_json()
    assert body["session"].startswith("s.") and body["recommendation"]["arm"] == "popular"
    assert body["recommendation"]["subject"] == body["session"]
    assert guest.headers["Cache-Control"] == "private, no-store"
    same = client.get(f"/v1/popular?limit=2&session={body['session']}")
    assert "session" not in same.get_json()
    assert same.get_json()["recommendation"]["id"] == body["recommendation"]["id"]
    assert same.headers["Cache-Control"] == "public, max-age=300"
    similar = client.get(f"/v1/items/SKU-1/similar?session={body['session']}").get_json()
    assert similar["recommendation"]["subject"] == body["session"]


def test_genuine_reports_are_stored_once(app, client, lists, token):
    rec = client.get("/v1/customers/5/recommendations?limit=3",
                     headers={"Authorization": f"Bearer {token('5')}"}).get_json()["recommendation"]
    events = [{"type": "impression", "sku": "SKU-0", "position": 1},
              {"type": "impression", "sku": "SKU-1", "position": 2},
              {"type": "click", "sku": "SKU-1", "position": 2}]
    assert _send(client, _report(rec, events, token("5"))).status_code == 202
    assert _send(client, _report(rec, events, token("5"))).status_code == 202  # resent
    assert _rows(app) == [(rec["id"], "SKU-0", "impression", 1, "5", "dmf"),
                          (rec["id"], "SKU-1", "click", 2, "5", "dmf"),
                          (rec["id"], "SKU-1", "impression", 2, "5", "dmf")]
    guest = client.get("/v1/popular?limit=2&session=new").get_json()["recommendation"]
    assert _send(client, _report(guest, [{"type": "click", "sku": "POP-2",
                                          "position": 2}])).status_code == 202
    assert len(_rows(app)) == 4


def test_bad_reports_are_refused_and_write_nothing(app, client, lists, token):
    rec = client.get("/v1/customers/5/recommendations?limit=3",
                     headers={"Authorization": f"Bearer {token('5')}"}).get_json()["recommendation"]
    click = [{"type": "click", "sku": "SKU-1", "position": 2}]
    good = _report(rec, click, token("5"))
    cases = {
        "forged arm": (403, lambda b: b["reports"][0]["recommendation"].update(arm="popular")),
        "forged list": (403, lambda b: b["reports"][0]["recommendation"]["skus"].reverse()),
        "wrong position": (403, lambda b: b["reports"][0]["events"][0].update(position=1)),
        "other customer": (403, lambda b: b.update(token=token("6"))),
        "no token": (401, lambda b: b.pop("token")),
        "forged token": (401, lambda b: b.update(token=token("5", secret="x" * 32))),
        "unknown type": (400, lambda b: b["reports"][0]["events"][0].update(type="view")),
        "extra field": (400, lambda b: b.update(admin=True)),
        "no events": (400, lambda b: b["reports"][0].update(events=[])),
        "old day": (400, lambda b: b["reports"][0]["recommendation"].update(day="2020-01-01")),
    }
    for name, (code, spoil) in cases.items():
        body = json.loads(json.dumps(good))
        spoil(body)
        # A genuine report beside the bad one is refused with it: all or nothing.
        body["reports"].insert(0, _report(rec, [{"type": "impression", "sku": "SKU-0",
                                                 "position": 1}])["reports"][0])
        answer = _send(client, body)
        assert answer.status_code == code, (name, answer.get_json())
        assert answer.get_json()["error"], name
    guest = client.get("/v1/popular?limit=2&session=new").get_json()["recommendation"]
    fake = _report(guest, [{"type": "click", "sku": "POP-1", "position": 1}])
    fake["reports"][0]["recommendation"]["subject"] = "s.made-up.0000"
    assert _send(client, fake).status_code == 403
    assert _send(client, b"not json").status_code == 400
    assert _send(client, b"[1, 2]").status_code == 400
    huge = _report(rec, click, token("5")) | {"pad": "x" * 20_000}
    assert _send(client, huge).status_code == 413
    assert _rows(app) == []
    assert _send(client, good).status_code == 202 and len(_rows(app)) == 1


def test_arms_are_served_as_assigned(client, lists, r, token):
    """popular: the popular list, tagged so; magento: Magento's links of what the customer
    bought (test_webhook_catalog.py), here none known yet, so the popular list as a fallback,
    as for a DMF customer without a list; a stopped experiment's winner for everybody."""
    from storage import experiments

    auth = {"Authorization": f"Bearer {token('5')}"}
    for arm in ("popular", "magento"):
        r.set(experiments.KEY, json.dumps({"name": "t", "status": "running", "salt": "s",
                                           "arms": [[arm, 1], ["dmf", 0.000001]]}))
        body = client.get("/v1/customers/5/recommendations?limit=3", headers=auth).get_json()
        assert [i["sku"] for i in body["items"]] == ["POP-1", "POP-2", "POP-3"]
        assert (body["fallback"], body["version"]) == (True, None)
        assert (body["recommendation"]["arm"], body["recommendation"]["experiment"]) == (arm, "t")
    r.set(experiments.KEY, json.dumps({"name": "t", "status": "stopped", "winner": "popular"}))
    body = client.get("/v1/customers/5/recommendations?limit=3", headers=auth).get_json()
    assert body["recommendation"]["arm"] == "popular" and body["fallback"] is True
