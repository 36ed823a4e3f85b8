"""rules and review: agency settings, sheet flags, review items, training crops, canon images

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scanned_pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("canon_path", sa.String(), nullable=True))

    op.create_table(
        "agency_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "sheet_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sheet_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["sheet_id"], ["sheets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sheet_id", "code", "day", name="uq_flag_sheet_code_day"),
    )
    with op.batch_alter_table("sheet_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sheet_flags_sheet_id"), ["sheet_id"], unique=False)

    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("sheet_id", sa.Integer(), nullable=True),
        sa.Column("page_id", sa.Integer(), nullable=True),
        sa.Column("reading_id", sa.Integer(), nullable=True),
        sa.Column("flag_id", sa.Integer(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("field_kind", sa.String(length=16), nullable=True),
        sa.Column("machine_value", sa.String(length=32), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("machine_was_wrong", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["sheet_id"], ["sheets.id"]),
        sa.ForeignKeyConstraint(["page_id"], ["scanned_pages.id"]),
        sa.ForeignKeyConstraint(["reading_id"], ["field_readings.id"]),
        sa.ForeignKeyConstraint(["flag_id"], ["sheet_flags.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index("ix_review_items_queue", ["state", "deadline", "priority"])
        for column in ("sheet_id", "page_id", "reading_id", "flag_id"):
            batch_op.create_index(batch_op.f(f"ix_review_items_{column}"), [column], unique=False)

    op.create_table(
        "training_crops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reading_id", sa.Integer(), nullable=False),
        sa.Column("cell", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=1), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=True),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("verified_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["reading_id"], ["field_readings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reading_id", "cell", name="uq_training_reading_cell"),
    )
    with op.batch_alter_table("training_crops", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_crops_reading_id"), ["reading_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("training_crops")
    op.drop_table("review_items")
    op.drop_table("sheet_flags")
    op.drop_table("agency_settings")
    with op.batch_alter_table("scanned_pages", schema=None) as batch_op:
        batch_op.drop_column("canon_path")
