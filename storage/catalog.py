"""Product states from the Magento module's catalogue sync (`POST /v1/webhooks/magento/products`).

Each state says whether Magento would show a SKU (enabled, visible in catalogue or search, in
stock) and on which websites; `deleted` marks a SKU removed from the catalogue. States are
stamped by the event's `occurred_at` and applied newest-first per SKU (`state_at`), so batches
arriving out of order or twice leave the newest state. A SKU is hidden when any of the three
flags is false; website ids (when known) let lists be limited to one website's products. A
field left out keeps what was known; a deleted SKU is on no website.

Issue 18: a state may also carry the product's native Magento links, `related` and `upsell`
(linked SKUs in the shop's own order), which the A/B arm ``magento`` serves (webhook.lists):
left out they keep what was known, ``[]`` clears them, a deleted SKU loses them. A list with
a SKU twice, or linking the product to itself, refuses the whole event (nothing is written).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictBool, model_validator
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from storage.db import run_transaction
from storage.ingestion import utcnow
from storage.models import Product
from storage.snapshot import Sku, UtcDateTime, _Model, _no_control, validate_body
from storage.upsert import chunks, upsert_newer

PRODUCTS = Product.__table__
WebsiteId = Annotated[int, Field(ge=0, lt=2**31, strict=True)]
MAX_LINKS = 100  # per link type; Magento shows a handful, the module sends at most this many
Links = Annotated[list[Sku], Field(max_length=MAX_LINKS)]


class ProductState(_Model):
    """One SKU as Magento has it now; a field left out keeps what was known."""

    sku: Sku
    enabled: StrictBool | None = None
    visible: StrictBool | None = None
    in_stock: StrictBool | None = None
    website_ids: Annotated[list[WebsiteId], Field(max_length=1000)] | None = None
    related: Links | None = None
    upsell: Links | None = None
    deleted: StrictBool = False

    @model_validator(mode="after")
    def _links_make_sense(self) -> ProductState:
        for name in ("related", "upsell"):
            links = getattr(self, name)
            if links is None:
                continue
            if self.deleted:
                raise ValueError(f"{name}: a deleted product has no links")
            if self.sku in links:
                raise ValueError(f"{name}: the product links to itself")
            if len(set(links)) != len(links):
                raise ValueError(f"{name}: a SKU is linked twice")
        return self


class CatalogEvent(_Model):
    """The request body: an event id, when the states were read, and the states."""

    event_id: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_control)]
    occurred_at: UtcDateTime
    products: Annotated[list[ProductState], Field(min_length=1, max_length=10_000)]

    @model_validator(mode="after")
    def _one_state_per_sku(self) -> CatalogEvent:
        skus = [p.sku for p in self.products]
        if len(set(skus)) != len(skus):
            dup = sorted({s for s in skus if skus.count(s) > 1})[:5]
            raise ValueError(f"products: SKU listed twice {dup}")
        return self


@dataclass(frozen=True)
class SkuState:
    """A SKU's state as stored after an event (newer states win)."""

    sku: str
    hidden: bool
    website_ids: tuple[int, ...] | None
    links: tuple[str, ...] = ()  # native related, then up-sell links (issue 18's magento arm)


def parse_catalog(raw: bytes | str | Mapping[str, Any]) -> CatalogEvent:
    """Validate a request body; `SnapshotError` names the offending fields."""
    return validate_body(CatalogEvent, raw)


def _row(state: ProductState, event: CatalogEvent, now) -> dict[str, Any]:
    if state.deleted:
        # Empty lists, not NULL: NULL would keep the old websites and links.
        enabled, visible, in_stock, websites = False, False, None, []
        related, upsell = [], []
    else:
        enabled, visible, in_stock = state.enabled, state.visible, state.in_stock
        websites = sorted(set(state.website_ids)) if state.website_ids is not None else None
        related, upsell = state.related, state.upsell
    return {"sku": state.sku, "enabled": enabled, "visible": visible, "in_stock": in_stock,
            "website_ids": websites, "related_skus": related, "upsell_skus": upsell,
            "state_at": event.occurred_at, "info_at": event.occurred_at, "updated_at": now}


def apply_catalog(engine_or_url: Engine | str | None, event: CatalogEvent) -> list[SkuState]:
    """Store the event's states (older than what is stored: ignored); the SKUs as now stored."""
    def work(session: Session) -> list[SkuState]:
        rows = sorted((_row(p, event, utcnow()) for p in event.products), key=lambda r: r["sku"])
        upsert_newer(session, PRODUCTS, rows, stamp="state_at",
                     fields=("enabled", "visible", "in_stock", "website_ids",
                             "related_skus", "upsell_skus"),
                     always=("updated_at",))
        return stored_states(session, [r["sku"] for r in rows])

    return run_transaction(engine_or_url, work)


def stored_states(session: Session, skus: Sequence[str]) -> list[SkuState]:
    out = []
    for part in chunks(list(skus)):
        q = select(PRODUCTS.c.sku, PRODUCTS.c.enabled, PRODUCTS.c.visible, PRODUCTS.c.in_stock,
                   PRODUCTS.c.website_ids, PRODUCTS.c.related_skus, PRODUCTS.c.upsell_skus
                   ).where(PRODUCTS.c.sku.in_(part))
        for r in session.execute(q):
            hidden = False in (r.enabled, r.visible, r.in_stock)
            websites = tuple(r.website_ids) if r.website_ids is not None else None
            out.append(SkuState(r.sku, hidden, websites,
                                native_links(r.related_skus, r.upsell_skus)))
    return sorted(out, key=lambda s: s.sku)


def native_links(related: Sequence[str] | None, upsell: Sequence[str] | None
                 ) -> tuple[str, ...]:
    """One list of a SKU's native links: related first, then up-sells, each SKU once."""
    return tuple(dict.fromkeys([*(related or ()), *(upsell or ())]))


def all_native_links(session: Session) -> dict[str, tuple[str, ...]]:
    """SKU -> its native links, for every SKU that has any (a Redis rebuild reads this)."""
    q = select(PRODUCTS.c.sku, PRODUCTS.c.related_skus, PRODUCTS.c.upsell_skus).where(
        PRODUCTS.c.related_skus.is_not(None) | PRODUCTS.c.upsell_skus.is_not(None))
    found = {r.sku: native_links(r.related_skus, r.upsell_skus) for r in session.execute(q)}
    return {sku: links for sku, links in found.items() if links}
