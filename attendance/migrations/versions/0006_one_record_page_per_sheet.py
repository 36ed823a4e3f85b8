"""one record page per sheet: scanned_pages.is_record with a partial unique index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "scanned_pages",
        sa.Column("is_record", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # The page each received sheet points at is its record.
    op.execute(
        """
        UPDATE scanned_pages SET is_record = TRUE
        WHERE id IN (
            SELECT p.id FROM scanned_pages p
            JOIN scanned_files f ON f.id = p.file_id
            JOIN sheets s ON s.id = p.sheet_id
            WHERE s.source_file_sha256 = f.sha256 AND s.source_page = p.page_number
        )
        """
    )
    op.create_index(
        "uq_one_record_page_per_sheet",
        "scanned_pages",
        ["sheet_id"],
        unique=True,
        sqlite_where=sa.text("is_record"),
        postgresql_where=sa.text("is_record"),
    )


def downgrade() -> None:
    op.drop_index("uq_one_record_page_per_sheet", table_name="scanned_pages")
    with op.batch_alter_table("scanned_pages") as batch:
        batch.drop_column("is_record")
