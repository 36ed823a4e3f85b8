"""intake queue: arrivals and page jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("original_name", sa.String(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("message", sa.String(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("placed_in", sa.String(length=16), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["scanned_files.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("claim_id"),
    )
    with op.batch_alter_table("intake_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_files_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_intake_files_file_id"), ["file_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_intake_files_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_intake_files_state"), ["state"], unique=False)

    op.create_table(
        "page_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intake_file_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("message", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["scanned_files.id"],
        ),
        sa.ForeignKeyConstraint(
            ["intake_file_id"],
            ["intake_files.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("intake_file_id", "page_number", name="uq_job_file_page"),
    )
    with op.batch_alter_table("page_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_page_jobs_intake_file_id"), ["intake_file_id"], unique=False
        )
        batch_op.create_index("ix_page_jobs_state_id", ["state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("page_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_page_jobs_state_id")
        batch_op.drop_index(batch_op.f("ix_page_jobs_intake_file_id"))

    op.drop_table("page_jobs")
    with op.batch_alter_table("intake_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_files_state"))
        batch_op.drop_index(batch_op.f("ix_intake_files_sha256"))
        batch_op.drop_index(batch_op.f("ix_intake_files_file_id"))
        batch_op.drop_index(batch_op.f("ix_intake_files_batch_id"))

    op.drop_table("intake_files")
