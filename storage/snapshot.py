"""The order snapshot event: what our Magento module (or a webhook template) sends.

One event carries the whole order as Magento has it after a save, so the receiver never needs
history: the newest snapshot of an order decides every line (see `storage.ingestion`).
The webhook validates request bodies with `parse_event`; errors name the field, e.g.
`order.items.2.qty_refunded: Input should be greater than or equal to 0`.

Decisions on odd input (documented here, enforced by the types below):

- Ids (`event_id`, `order.entity_id`, `items[].item_id`) are required; numeric ids are positive.
- Quantities and money: JSON numbers or numeric strings ("1.0000", as Magento's REST API
  writes them), finite, not negative; rounded half-up to 4 decimal places (Magento's
  `decimal(12,4)` / `decimal(20,4)`). Booleans, NaN, Infinity and other strings are rejected.
  `qty_canceled + qty_refunded` may not exceed `qty_ordered`.
- `state` must be one of Magento's eight order states; `status` is free (shops add their own).
- SKUs: surrounding whitespace is stripped (Magento trims SKUs on save), then 1..64 characters,
  no control characters (Unicode category C: Cc, Cf, Co, Cs, Cn); any other Unicode
  (accents, CJK, emoji, inner spaces, case) is stored verbatim. Names: up to 255 characters,
  control characters other than tab/newline rejected.
- Timestamps: ISO 8601 or Magento's `YYYY-MM-DD HH:MM:SS`; without an offset they are UTC
  (Magento stores UTC); with an offset they are converted to UTC.
- Items: at least one, `item_id`s unique within the order, a `parent_item_id` must name a
  top-level item of the same order (Magento nests one level only).
- `session_id` (optional): the storefront widget's guest session id (`s.<random>.<mac>`, as
  webhook.recids mints it: `s.`, URL-safe base64, `.`, hex; at most 64 characters), which the
  module stamps on the order at checkout from the widget's cookie. It ties the order to that
  browser session's recommendation clicks (attribution); it is random, nothing personal.
- Unknown extra fields are ignored (templates send more than we need).
A rejected event changes nothing; a valid one is applied whole or not at all.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

ORDER_STATES = (
    "new",
    "pending_payment",
    "processing",
    "complete",
    "closed",
    "canceled",
    "holded",
    "payment_review",
)
QUANT = Decimal("0.0001")


class SnapshotError(ValueError):
    """An event that cannot be applied; `errors` lists (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in errors))


def _no_control(value: str, allow: str = "") -> str:
    if value.isprintable():  # fast path: no character of category C (nor Z other than " ")
        return value
    for ch in value:
        if ch not in allow and unicodedata.category(ch).startswith("C"):
            raise ValueError(f"control or unassigned character U+{ord(ch):04X} not allowed")
    return value


def _sku(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("SKU is empty")
    if len(value) > 64:
        raise ValueError(f"SKU has {len(value)} characters, at most 64 allowed")
    return _no_control(value)


def _text(value: str) -> str:
    return _no_control(value, allow="\t\n\r")


def _reject_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number is required, not a boolean")
    return value


def _round4(value: Decimal) -> Decimal:
    return value.quantize(QUANT, rounding=ROUND_HALF_UP)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01 with a +offset: a 400, not a 500
            raise ValueError("timestamp out of range once converted to UTC") from None
    return value


Sku = Annotated[str, Field(max_length=200), AfterValidator(_sku)]
Text255 = Annotated[str, Field(max_length=255), AfterValidator(_text)]
ShortText = Annotated[str, Field(max_length=32), AfterValidator(_text)]
Amount = Annotated[
    Decimal,
    BeforeValidator(_reject_bool),
    Field(ge=0, lt=Decimal("1e15"), allow_inf_nan=False),
    AfterValidator(_round4),
]
Quantity = Annotated[
    Decimal,
    BeforeValidator(_reject_bool),
    Field(ge=0, lt=Decimal("1e7"), allow_inf_nan=False),
    AfterValidator(_round4),
]
Id = Annotated[int, BeforeValidator(_reject_bool), Field(gt=0, lt=2**63)]
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
SESSION_ID_LEN = 64
SessionId = Annotated[str, Field(max_length=SESSION_ID_LEN,
                                 pattern=r"^s\.[A-Za-z0-9_-]+\.[0-9a-f]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SnapshotItem(_Model):
    """One `sales_order_item` row."""

    item_id: Id
    parent_item_id: Id | None = None
    product_id: Id | None = None
    sku: Sku
    name: Text255 | None = None
    product_type: ShortText = "simple"
    qty_ordered: Quantity
    qty_canceled: Quantity = Decimal(0)
    qty_refunded: Quantity = Decimal(0)
    qty_invoiced: Quantity = Decimal(0)
    price: Amount = Decimal(0)
    row_total: Amount = Decimal(0)
    # The same amounts in the store's base currency (Magento's base_price / base_row_total):
    # lines are valued in base currency when these are sent, so currencies never mix.
    base_price: Amount | None = None
    base_row_total: Amount | None = None

    @model_validator(mode="after")
    def _quantities_fit(self) -> SnapshotItem:
        if self.qty_canceled + self.qty_refunded > self.qty_ordered:
            raise ValueError(
                f"qty_canceled ({self.qty_canceled}) + qty_refunded ({self.qty_refunded}) "
                f"exceeds qty_ordered ({self.qty_ordered})"
            )
        if self.parent_item_id == self.item_id:
            raise ValueError("parent_item_id is the item's own item_id")
        return self


class OrderSnapshot(_Model):
    """One `sales_order` row with all its items, as Magento has it after a save."""

    entity_id: Id
    increment_id: Annotated[str, Field(min_length=1, max_length=50), AfterValidator(_text)]
    store_id: Annotated[int, Field(ge=0, lt=2**31)] | None = None
    customer_id: Id | None = None
    customer_email: Text255 | None = None
    customer_is_guest: bool = False
    state: Literal[ORDER_STATES]  # type: ignore[valid-type]
    status: ShortText | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    currency: Annotated[str, Field(max_length=3)] | None = None
    grand_total: Amount | None = None
    website_id: Annotated[int, Field(ge=0, lt=2**31)] | None = None
    base_currency: Annotated[str, Field(max_length=3)] | None = None
    base_grand_total: Amount | None = None
    session_id: SessionId | None = None
    items: Annotated[list[SnapshotItem], Field(min_length=1, max_length=10_000)]

    @model_validator(mode="after")
    def _items_consistent(self) -> OrderSnapshot:
        ids = [item.item_id for item in self.items]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"items: duplicate item_id {dup}")
        top = {item.item_id for item in self.items if item.parent_item_id is None}
        for k, item in enumerate(self.items):
            if item.parent_item_id is not None and item.parent_item_id not in top:
                raise ValueError(
                    f"items.{k}.parent_item_id: {item.parent_item_id} is not a top-level item "
                    "of this order"
                )
        return self

    @property
    def progress(self) -> Decimal:
        """Monotone over an order's life in Magento: breaks ties between equal updated_at."""
        return sum(
            (i.qty_invoiced + i.qty_canceled + i.qty_refunded for i in self.items), Decimal(0)
        )


class ProductInfo(_Model):
    """Catalogue information about a SKU, when the sender includes it."""

    sku: Sku
    name: Text255 | None = None
    price: Amount | None = None
    url: Annotated[str, Field(max_length=1024), AfterValidator(_text)] | None = None
    enabled: bool | None = None
    in_stock: bool | None = None


class SnapshotEvent(_Model):
    """The request body: a unique event id, the order snapshot, optional catalogue info."""

    event_id: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_control)]
    # When the sender produced the event; defaults to the order's updated_at.
    occurred_at: UtcDateTime | None = None
    order: OrderSnapshot
    products: Annotated[list[ProductInfo], Field(max_length=10_000)] = []


M = TypeVar("M", bound=BaseModel)


def _format_errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [
        (".".join(str(p) for p in err["loc"]), err["msg"].removeprefix("Value error, "))
        for err in exc.errors(include_url=False)
    ]


def validate_body(model: type[M], raw: bytes | str | Mapping[str, Any]) -> M:
    """`model` from JSON bytes/str or a decoded mapping; `SnapshotError` names the fields."""
    try:
        if isinstance(raw, bytes | str):
            return model.model_validate_json(raw)
        return model.model_validate(raw)
    except ValidationError as exc:
        raise SnapshotError(_format_errors(exc)) from None


def parse_event(raw: bytes | str | Mapping[str, Any] | SnapshotEvent) -> SnapshotEvent:
    """Validate a request body (JSON bytes/str, or an already decoded mapping)."""
    if isinstance(raw, SnapshotEvent):
        return raw
    return validate_body(SnapshotEvent, raw)


def parse_order(raw: Mapping[str, Any]) -> OrderSnapshot:
    """Validate one order mapping (the Magento import builds these from its rows)."""
    try:
        return OrderSnapshot.model_validate(raw)
    except ValidationError as exc:
        raise SnapshotError(_format_errors(exc)) from None


def event_body(event: SnapshotEvent) -> str:
    """Canonical JSON of an event (what we store when we were not given the raw body)."""
    return json.dumps(event.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
