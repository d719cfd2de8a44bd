"""Events: attempts (bad events end `failed`) and customer_key (erasure after compaction).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("customer_key", sa.String(64), nullable=True))
    op.create_index(op.f("ix_events_customer_key"), "events", ["customer_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_events_customer_key"), table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("customer_key")
        batch.drop_column("attempts")
