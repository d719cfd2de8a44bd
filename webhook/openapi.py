"""The OpenAPI 3.1 document of this service, served at /openapi.json.

The order-snapshot schema is generated from the pydantic model the webhook validates with
(storage.snapshot.SnapshotEvent), so the document cannot drift from what is enforced.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, jsonify

from storage.catalog import CatalogEvent
from storage.snapshot import SnapshotEvent
from webhook import analytics_openapi  # issue 18
from webhook.admin import EraseRequest
from webhook.query import CustomerListQuery, DemoQuery, ListQuery, openapi_parameters

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"


def _json(schema: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _error(description: str) -> dict:
    return {"description": description, **_json("Error")}


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


SIGNATURE_HEADERS = [
    {"name": n, "in": "header", "required": True, "schema": {"type": "string"}, "description": d}
    for n, d in (
        ("webhook-id", "message id; unique per event, unchanged on redelivery"),
        ("webhook-timestamp", "Unix seconds; refused when more than 5 minutes off"),
        ("webhook-signature", "space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`"),
    )
]


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    snapshot = SnapshotEvent.model_json_schema(ref_template=REF)
    defs = snapshot.pop("$defs", {})
    catalog = CatalogEvent.model_json_schema(ref_template=REF)
    defs |= catalog.pop("$defs", {})
    list_item = {"type": "object", "required": ["sku", "score"],
                 "properties": {"sku": {"type": "string"}, "score": {"type": "number"}}}
    schemas: dict[str, Any] = {
        **defs,
        "SnapshotEvent": snapshot,
        "CatalogEvent": catalog,
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"},
                                 "fields": {"type": "array", "items": {
                                     "type": "object",
                                     "properties": {"field": {"type": "string"},
                                                    "message": {"type": "string"}}}}}},
        "Accepted": {"type": "object", "properties": {
            "status": {"type": "string", "enum": ["accepted", "duplicate"]},
            "event_id": {"type": "string"}}},
        "EraseRequest": EraseRequest.model_json_schema(ref_template=REF),
        "ListItem": list_item,
        "CustomerList": {"type": "object", "required": ["customer_id", "fallback", "items"],
                         "properties": {
                             "customer_id": {"type": "string"},
                             "version": {"type": ["string", "null"]},
                             "fallback": {"type": "boolean",
                                          "description": "true: the popular list was served"},
                             "items": {"type": "array", "items": {"$ref": REF.format(
                                 model="ListItem")}}}},
        "SimilarList": {"type": "object", "required": ["sku", "fallback", "items"],
                        "properties": {
                            "sku": {"type": "string"},
                            "version": {"type": ["string", "null"]},
                            "fallback": {"type": "boolean"},
                            "items": {"type": "array", "items": {"$ref": REF.format(
                                model="ListItem")}}}},
        "PopularList": {"type": "object", "required": ["items"], "properties": {
            "fallback": {"type": "boolean"},
            "items": {"type": "array", "items": {"$ref": REF.format(model="ListItem")}}}},
        **analytics_openapi.schemas(),  # issue 18
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "dmfrec", "version": "1",
                 "description": "Signed Magento order webhooks in; DMF recommendations out."},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "storefrontToken": {"type": "http", "scheme": "bearer",
                                    "description": "v1.<b64url customer>.<expires>.<hex HMAC> "
                                    "(see webhook/tokens.py)"},
            },
        },
        "paths": {
            "/v1/webhooks/magento/orders": {"post": {
                "summary": "Receive a signed order snapshot (Standard Webhooks)",
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {"required": True, **_json("SnapshotEvent")},
                "responses": {
                    "202": {"description": "recorded; ingestion queued", **_json("Accepted")},
                    "200": {"description": "already recorded (a repeat)", **_json("Accepted")},
                    "400": _error("malformed snapshot; `fields` names the offending fields"),
                    "401": _error("missing, bad or stale signature"),
                    "413": _error("body too large"),
                    "415": _error("Content-Type is not application/json"),
                    "503": _error("database unavailable; retry later"),
                }}},
            "/v1/webhooks/magento/products": {"post": {
                "summary": "Receive signed product states (Standard Webhooks); applied at once",
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {"required": True, **_json("CatalogEvent")},
                "responses": {
                    "200": {"description": "applied; hidden SKUs leave the lists now",
                            "content": {"application/json": {"schema": {
                                "type": "object", "properties": {
                                    "status": {"type": "string", "enum": ["applied"]},
                                    "event_id": {"type": "string"},
                                    "hidden": {"type": "integer"},
                                    "shown": {"type": "integer"}}}}}},
                    "400": _error("malformed states; `fields` names the offending fields"),
                    "401": _error("missing, bad or stale signature"),
                    "413": _error("body too large"),
                    "415": _error("Content-Type is not application/json"),
                    "503": _error("database or Redis unavailable; retry later"),
                }}},
            "/v1/webhooks/adobe-commerce/order-placed": {"post": {
                "summary": "Adobe Commerce Webhooks order event; answers at once",
                "parameters": [{"name": "x-adobe-commerce-webhook-signature", "in": "header",
                                "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object"}}}},
                "responses": {
                    "200": {"description": "accepted", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {
                            "op": {"type": "string", "enum": ["success"]}}}}}},
                    "401": _error("bad signature"),
                    "503": _error("not configured"),
                }}},
            "/v1/customers/{customer_id}/recommendations": {"get": {
                "summary": "A customer's recommended SKUs (popular ones for an unknown customer)",
                "security": [{"storefrontToken": []}],
                "parameters": [_path("customer_id"), *openapi_parameters(CustomerListQuery)],
                "responses": {
                    "200": {"description": "the list", **_json("CustomerList")},
                    "400": _error("bad limit, exclude or website"),
                    "401": _error("missing, forged or expired token"),
                    "403": _error("token minted for another customer"),
                    "503": _error("Redis unavailable, or tokens not configured"),
                }}},
            "/v1/items/{sku}/similar": {"get": {
                "summary": "SKUs similar to one SKU (popular ones when the SKU is unknown)",
                "parameters": [_path("sku"), *openapi_parameters(ListQuery)],
                "responses": {"200": {"description": "the list", **_json("SimilarList")},
                              "400": _error("bad limit, exclude or website"),
                              "503": _error("Redis unavailable")}}},
            "/v1/popular": {"get": {
                "summary": "Popular SKUs",
                "parameters": openapi_parameters(ListQuery),
                "responses": {"200": {"description": "the list", **_json("PopularList")},
                              "400": _error("bad limit, exclude or website"),
                              "503": _error("Redis unavailable")}}},
            "/admin/erase": {"post": {
                "summary": "Erase one customer (id) or guest (email) everywhere; signed like "
                           "the order webhook",
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {"required": True, **_json("EraseRequest")},
                "responses": {
                    "200": {"description": "erased from the database and Redis; artifacts "
                            "scrubbed by a queued task", "content": {"application/json": {
                                "schema": {"type": "object"}}}},
                    "400": _error("not exactly one valid customer_id or email"),
                    "401": _error("missing, bad or stale signature"),
                    "415": _error("Content-Type is not application/json"),
                    "503": _error("database or Redis unavailable; retry later"),
                }}},
            "/healthz": {"get": {"summary": "process is up",
                                 "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "database and Redis reachable", "responses": {
                "200": {"description": "ready"},
                "503": {"description": "`down` names the unreachable dependencies"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "text exposition format"}}}},
            "/widget.js": {"get": {"summary": "the standalone storefront widget script",
                                   "responses": {"200": {"description": "JavaScript"}}}},
            "/demo": {"get": {
                "summary": "demo storefront page (only with DMFREC_DEMO_PAGE)",
                "parameters": openapi_parameters(DemoQuery),
                "responses": {"200": {"description": "HTML"},
                              "400": {"description": "customer is not numeric"},
                              "404": {"description": "demo mode is off"}}}},
            "/demo/orders": {"post": {
                "summary": "place a one-line demo order (only with DMFREC_DEMO_PAGE)",
                "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["customer", "sku"],
                    "properties": {"customer": {"type": "string"},
                                   "sku": {"type": "string"}}}}}},
                "responses": {"303": {"description": "back to the demo page"},
                              "400": {"description": "customer or sku missing"},
                              "404": {"description": "demo mode is off"}}}},
            **analytics_openapi.paths(),  # issue 18
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())
