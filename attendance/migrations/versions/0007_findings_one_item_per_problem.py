"""findings: one review item per problem (flag code on a sheet), not per flag and day

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("review_items", sa.Column("finding_code", sa.String(length=32), nullable=True))
    # Open per-flag items give way to findings: `attend init` applies the rules again to every
    # sheet in play after this migration, which opens one finding per problem.


def downgrade() -> None:
    with op.batch_alter_table("review_items") as batch:
        batch.drop_column("finding_code")
