"""Product states from the Magento module's catalogue sync: visible, website ids, state time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = sa.text("'1970-01-01 00:00:00'")


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("visible", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("website_ids", sa.JSON(), nullable=True))
        # Time of the newest catalogue state applied (its own clock: order lines stamp info_at).
        batch.add_column(sa.Column(
            "state_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False, server_default=EPOCH))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("state_at")
        batch.drop_column("website_ids")
        batch.drop_column("visible")
