"""The OpenAPI description of issue 18's routes (analytics beacons, the dashboard), merged
into /openapi.json by webhook.openapi so the document keeps describing every route."""

from __future__ import annotations

from typing import Any

from webhook.analytics import Beacon
from webhook.dashboard import SCRIPTS

REF = "#/components/schemas/{model}"


def schemas() -> dict[str, Any]:
    beacon = Beacon.model_json_schema(ref_template=REF)
    return {**beacon.pop("$defs", {}), "AnalyticsBeacon": beacon}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": REF.format(model="Error")}}}}


def paths() -> dict[str, Any]:
    return {
        "/v1/analytics/events": {"post": {
            "summary": "Impressions and clicks of served recommendations (the widget's "
                       "sendBeacon, sent as text/plain JSON; any content type is read)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "$ref": REF.format(model="AnalyticsBeacon")}}}},
            "responses": {
                "202": {"description": "recorded (each recommendation id, SKU and kind once)",
                        "content": {"application/json": {"schema": {
                            "type": "object", "properties": {
                                "accepted": {"type": "integer"}}}}}},
                "400": _error("not JSON, not this shape, or a day other than today or "
                              "yesterday"),
                "401": _error("a customer's report without a genuine token"),
                "403": _error("a recommendation not served as reported, another customer's "
                              "token, or an unknown guest session"),
                "413": _error("body over DMFREC_ANALYTICS_MAX_BODY_BYTES"),
                "503": _error("tokens not configured, or the database unavailable"),
            }}},
        "/dashboard": {"get": {
            "summary": "merchant dashboard (HTML); `?token=` signs in with DMFREC_ADMIN_TOKEN",
            "parameters": [{"name": "token", "in": "query", "required": False,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "HTML"},
                          "303": {"description": "signed in: the cookie is set"},
                          "401": _error("no or a wrong admin token"),
                          "404": _error("no admin token configured: dashboard off")}}},
        "/dashboard/data.json": {"get": {
            "summary": "the dashboard's figures (admin token: bearer or the sign-in cookie)",
            "parameters": [{"name": "days", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 366}}],
            "responses": {"200": {"description": "per day and arm figures, model, events",
                                  "content": {"application/json": {"schema": {
                                      "type": "object"}}}},
                          "400": _error("days out of range"),
                          "401": _error("no or a wrong admin token"),
                          "404": _error("no admin token configured: dashboard off")}}},
        "/dashboard/static/{name}": {"get": {
            "summary": "the dashboard's scripts (Chart.js, vendored; the page's own)",
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": list(SCRIPTS)}}],
            "responses": {"200": {"description": "JavaScript"},
                          "404": _error("no such script")}}},
    }
