"""Initial schema: orders, order lines, events, interactions, products, model versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# InnoDB, utf8mb4, binary collation: SKUs differing in case or accents stay distinct.
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def ts() -> sa.types.TypeEngine:
    """Naive UTC time; microseconds on MySQL/MariaDB too."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def qty() -> sa.Numeric:
    return sa.Numeric(precision=12, scale=4)


def money() -> sa.Numeric:
    return sa.Numeric(precision=20, scale=4)


def big_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("entity_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("increment_id", sa.String(50), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_key", sa.String(64), nullable=True),
        sa.Column("guest", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        sa.Column("progress", money(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("grand_total", money(), nullable=True),
        sa.Column("last_event_id", sa.String(128), nullable=True),
        sa.Column("ingested_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("entity_id", name=op.f("pk_orders")),
        **MYSQL,
    )
    op.create_index(op.f("ix_orders_created_at"), "orders", ["created_at"])
    op.create_index(
        op.f("ix_orders_customer_key_created_at"), "orders", ["customer_key", "created_at"]
    )

    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("parent_item_id", sa.BigInteger(), nullable=True),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("product_type", sa.String(32), nullable=True),
        sa.Column("qty_ordered", qty(), nullable=False),
        sa.Column("qty_canceled", qty(), nullable=False),
        sa.Column("qty_refunded", qty(), nullable=False),
        sa.Column("qty_invoiced", qty(), nullable=False),
        sa.Column("price", money(), nullable=False),
        sa.Column("row_total", money(), nullable=False),
        sa.Column("effective_qty", qty(), nullable=False),
        sa.Column("amount", money(), nullable=False),
        sa.Column("is_leaf", sa.Boolean(), nullable=False),
        sa.Column("is_top", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.entity_id"], name=op.f("fk_order_lines_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "item_id", name=op.f("pk_order_lines")),
        **MYSQL,
    )
    op.create_index(op.f("ix_order_lines_sku"), "order_lines", ["sku"])

    op.create_table(
        "events",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("order_updated_at", ts(), nullable=False),
        sa.Column("received_at", ts(), nullable=False),
        sa.Column("processed_at", ts(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "payload", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'applied', 'stale', 'failed')",
            name=op.f("ck_events_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
        **MYSQL,
    )
    op.create_index(op.f("ix_events_order_id"), "events", ["order_id"])
    op.create_index(op.f("ix_events_status_received_at"), "events", ["status", "received_at"])

    op.create_table(
        "interactions",
        sa.Column("customer_key", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("qty", money(), nullable=False),
        sa.Column("amount", money(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("first_purchase_at", ts(), nullable=False),
        sa.Column("last_purchase_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("customer_key", "sku", name=op.f("pk_interactions")),
        **MYSQL,
    )
    op.create_index(op.f("ix_interactions_last_purchase_at"), "interactions", ["last_purchase_at"])

    op.create_table(
        "products",
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("price", money(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("url", sa.String(1024), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("in_stock", sa.Boolean(), nullable=True),
        sa.Column("info_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_products")),
        **MYSQL,
    )

    op.create_table(
        "model_versions",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("artifact_path", sa.String(1024), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("window_start", ts(), nullable=True),
        sa.Column("window_end", ts(), nullable=True),
        sa.Column("n_users", sa.Integer(), nullable=True),
        sa.Column("n_items", sa.Integer(), nullable=True),
        sa.Column("n_interactions", sa.BigInteger(), nullable=True),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("activated_at", ts(), nullable=True),
        sa.Column("retired_at", ts(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('candidate', 'active', 'rejected', 'retired')",
            name=op.f("ck_model_versions_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_model_versions_version")),
        **MYSQL,
    )
    op.create_index(op.f("ix_model_versions_status"), "model_versions", ["status"])


def downgrade() -> None:
    op.drop_table("model_versions")
    op.drop_table("products")
    op.drop_table("interactions")
    op.drop_table("events")
    op.drop_table("order_lines")
    op.drop_table("orders")
