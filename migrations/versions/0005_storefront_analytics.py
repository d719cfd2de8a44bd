"""Storefront analytics (issue 18): impressions and clicks, their daily aggregates,
attributed order lines, A/B experiments.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MONEY = sa.Numeric(20, 4)
ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "rec_events",
        sa.Column("rec_id", sa.String(32), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("experiment", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("rec_id", "sku", "kind", name="pk_rec_events"),
        **ARGS,
    )
    op.create_index("ix_rec_events_subject_sku", "rec_events", ["subject", "sku"])
    op.create_index("ix_rec_events_at", "rec_events", ["at"])
    op.create_table(
        "rec_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("experiment", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("subjects", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "experiment", "arm", "sku", "kind", name="pk_rec_daily"),
        **ARGS,
    )
    op.create_table(
        "attributed_lines",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("customer_key", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("rec_id", sa.String(32), nullable=False),
        sa.Column("experiment", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("ordered_at", TS, nullable=False),
        sa.Column("clicked_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "item_id", name="pk_attributed_lines"),
        **ARGS,
    )
    op.create_index("ix_attributed_lines_ordered_at", "attributed_lines", ["ordered_at"])
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("arms", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("winner", sa.String(16), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("stopped_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_experiments"),
        **ARGS,
    )


def downgrade() -> None:
    op.drop_table("experiments")
    op.drop_index("ix_attributed_lines_ordered_at", table_name="attributed_lines")
    op.drop_table("attributed_lines")
    op.drop_table("rec_daily")
    op.drop_index("ix_rec_events_at", table_name="rec_events")
    op.drop_index("ix_rec_events_subject_sku", table_name="rec_events")
    op.drop_table("rec_events")
