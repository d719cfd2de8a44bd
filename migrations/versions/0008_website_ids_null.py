"""Website ids left out of a product state were stored as JSON null, which replaced the known
ones; the model now stores SQL NULL ("unknown", kept by the next state without them). Rows
already holding JSON null become SQL NULL. On MariaDB JSON is LONGTEXT and on SQLite TEXT:
both hold the text `null`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE products SET website_ids = NULL WHERE website_ids = 'null'")


def downgrade() -> None:
    """Nothing to undo: JSON null and SQL NULL both read as unknown websites."""
