"""page registration and reading reasons: residual and review reason per page, reason per field

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:10:32.039381
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing pages were identified before reading existed: not in review.
    with op.batch_alter_table("field_readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=32), nullable=True))

    with op.batch_alter_table("scanned_pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registration_residual_pt", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("needs_review", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("review_reason", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scanned_pages", schema=None) as batch_op:
        batch_op.drop_column("review_reason")
        batch_op.drop_column("needs_review")
        batch_op.drop_column("registration_residual_pt")

    with op.batch_alter_table("field_readings", schema=None) as batch_op:
        batch_op.drop_column("reason")
