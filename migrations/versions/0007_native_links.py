"""Products keep their native Magento related and up-sell links, as the module sends them
with the product states (issue 18: the A/B arm "magento" serves them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("related_skus", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("upsell_skus", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("upsell_skus")
        batch.drop_column("related_skus")
