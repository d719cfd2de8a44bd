"""SQLAlchemy 2 models of the shop database (the migrations in `migrations/` build the same).

Tables: `orders` and `order_lines` (each Magento order and item as last seen), `events` (every
received snapshot, kept raw for audit and replay), `interactions` (customer x SKU, derived from
the lines), `products` (what we learn of each SKU) and `model_versions`.

Times are naive UTC. On MariaDB/MySQL every table is InnoDB, `utf8mb4` with the binary collation,
so SKUs that differ only in case or accents stay distinct, as they do in SQLite.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

SKU_LEN = 64  # Magento's catalog_product_entity.sku is varchar(64)
KEY_LEN = 64  # customer keys: a decimal customer_id or "g:" + a 40-hex-digit salted hash
EVENT_ID_LEN = 128
SESSION_ID_LEN = 64  # the widget's guest session id (webhook.recids: "s.<random>.<mac>")
MODEL_STATUSES = ("candidate", "active", "rejected", "retired")
EVENT_STATUSES = ("pending", "applied", "stale", "failed")

# Magento's own precision: quantities decimal(12,4), money decimal(20,4).
Qty = Numeric(12, 4)
Money = Numeric(20, 4)
# Microsecond timestamps on MySQL too (plain DATETIME drops the fraction there).
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Order(Base):
    """One Magento order (`sales_order`), as its newest snapshot says."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_key_created_at", "customer_key", "created_at"),
                      TABLE_ARGS)

    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    increment_id: Mapped[str] = mapped_column(String(50))
    store_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    # Whom the lines count for: str(customer_id), a guest's salted email hash, or NULL.
    customer_key: Mapped[str | None] = mapped_column(String(KEY_LEN))
    guest: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    # Sum of qty_invoiced + qty_canceled + qty_refunded: breaks ties between equal updated_at.
    progress: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    grand_total: Mapped[Decimal | None] = mapped_column(Money)
    last_event_id: Mapped[str | None] = mapped_column(String(EVENT_ID_LEN))
    ingested_at: Mapped[datetime] = mapped_column(Timestamp)
    # The storefront's random guest session id the order was placed from (attribution of
    # that session's recommendation clicks); once known, kept by later snapshots.
    session_id: Mapped[str | None] = mapped_column(String(SESSION_ID_LEN))


class OrderLine(Base):
    """One `sales_order_item` row as last seen, plus what ingestion derived from it."""

    __tablename__ = "order_lines"
    __table_args__ = (Index("ix_order_lines_sku", "sku"), TABLE_ARGS)

    order_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.entity_id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    parent_item_id: Mapped[int | None] = mapped_column(BigInteger)
    product_id: Mapped[int | None] = mapped_column(BigInteger)
    sku: Mapped[str] = mapped_column(String(SKU_LEN))
    name: Mapped[str | None] = mapped_column(String(255))
    product_type: Mapped[str | None] = mapped_column(String(32))
    qty_ordered: Mapped[Decimal] = mapped_column(Qty)
    qty_canceled: Mapped[Decimal] = mapped_column(Qty)
    qty_refunded: Mapped[Decimal] = mapped_column(Qty)
    qty_invoiced: Mapped[Decimal] = mapped_column(Qty)
    price: Mapped[Decimal] = mapped_column(Money)
    row_total: Mapped[Decimal] = mapped_column(Money)
    # Derived (see storage.ingestion.derive_lines): what the line contributes when it counts.
    effective_qty: Mapped[Decimal] = mapped_column(Qty)
    amount: Mapped[Decimal] = mapped_column(Money)
    is_leaf: Mapped[bool] = mapped_column(Boolean)  # no child lines: counted at sku_level=simple
    is_top: Mapped[bool] = mapped_column(Boolean)  # no parent line: counted at sku_level=parent


class Event(Base):
    """A received order snapshot event; `payload` is the body as received until the event is
    applied, then its compact form (storage.retention: no email, nothing ingestion ignores)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_status_received_at", "status", "received_at"),
        CheckConstraint(
            "status IN ('pending', 'applied', 'stale', 'failed')", name="status_known"
        ),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(EVENT_ID_LEN), unique=True)
    order_id: Mapped[int] = mapped_column(BigInteger, index=True)
    order_updated_at: Mapped[datetime] = mapped_column(Timestamp)
    received_at: Mapped[datetime] = mapped_column(Timestamp)
    processed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(LongText)
    # Failed applications that were not outages: the event ends `failed` at the limit
    # (DMFREC_EVENT_MAX_ATTEMPTS) instead of being handed over forever.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Whom the event counted for, set when it is applied: erasure finds a customer's events
    # by it once the payload is compacted (no email left to match).
    customer_key: Mapped[str | None] = mapped_column(String(KEY_LEN), index=True)


class Interaction(Base):
    """Customer x SKU, recomputed from the counted lines whenever one of them changes."""

    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_last_purchase_at", "last_purchase_at"), TABLE_ARGS)

    customer_key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_LEN), primary_key=True)
    qty: Mapped[Decimal] = mapped_column(Money)  # sum of effective quantities (> 0)
    amount: Mapped[Decimal] = mapped_column(Money)
    order_count: Mapped[int] = mapped_column(Integer)
    first_purchase_at: Mapped[datetime] = mapped_column(Timestamp)
    last_purchase_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class Product(Base):
    """What we learned of a SKU: from order lines (name, price) and catalogue info when sent."""

    __tablename__ = "products"
    __table_args__ = (TABLE_ARGS,)

    sku: Mapped[str] = mapped_column(String(SKU_LEN), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    url: Mapped[str | None] = mapped_column(String(1024))
    enabled: Mapped[bool | None] = mapped_column(Boolean)
    in_stock: Mapped[bool | None] = mapped_column(Boolean)
    # Time of the information (event time); older information never overwrites newer.
    info_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    # Catalogue state sent by the Magento module (storage.catalog), stamped by its own time.
    visible: Mapped[bool | None] = mapped_column(Boolean)
    # NULL (not JSON null, which COALESCE would keep as a value) when not sent, so a state
    # without website ids keeps the known ones; the same for the links below.
    website_ids: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    # Issue 18: the product's native Magento links in the shop's order (the A/B arm "magento").
    related_skus: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    upsell_skus: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    state_at: Mapped[datetime] = mapped_column(
        Timestamp, server_default=text("'1970-01-01 00:00:00'")
    )


class ModelVersion(Base):
    """A trained model artifact and its fate: candidate -> active -> retired, or rejected."""

    __tablename__ = "model_versions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('candidate', 'active', 'rejected', 'retired')", name="status_known"
        ),
        Index("ix_model_versions_status", "status"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    artifact_path: Mapped[str] = mapped_column(String(1024))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    window_start: Mapped[datetime | None] = mapped_column(Timestamp)
    window_end: Mapped[datetime | None] = mapped_column(Timestamp)
    n_users: Mapped[int | None] = mapped_column(Integer)
    n_items: Mapped[int | None] = mapped_column(Integer)
    n_interactions: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    activated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    retired_at: Mapped[datetime | None] = mapped_column(Timestamp)
    notes: Mapped[str | None] = mapped_column(Text)


# Policy-relevant constants shared with storage.ingestion.
__all__ = [
    "EVENT_STATUSES",
    "MODEL_STATUSES",
    "SKU_LEN",
    "Base",
    "Event",
    "Interaction",
    "ModelVersion",
    "Order",
    "OrderLine",
    "Product",
]

# issue 18: the analytics tables join the same metadata (migrations and create_all see them).
from storage import analytics_models  # noqa: E402,F401
