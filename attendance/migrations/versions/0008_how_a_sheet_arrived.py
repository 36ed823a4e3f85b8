"""how a sheet arrived: scanned by the mailroom or sent as a photo from a provider's phone

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # scan | phone; every sheet received before this revision was scanned by the mailroom.
    op.add_column("sheets", sa.Column("received_via", sa.String(length=16), nullable=True))
    op.execute("UPDATE sheets SET received_via = 'scan' WHERE received_at IS NOT NULL")
    # The provider who sent a file from the provider page (source 'phone'); none otherwise.
    op.add_column("intake_files", sa.Column("provider_id", sa.String(length=64), nullable=True))
    op.create_index("ix_intake_files_provider_id", "intake_files", ["provider_id"])


def downgrade() -> None:
    op.drop_index("ix_intake_files_provider_id", table_name="intake_files")
    with op.batch_alter_table("intake_files") as batch:
        batch.drop_column("provider_id")
    with op.batch_alter_table("sheets") as batch:
        batch.drop_column("received_via")
