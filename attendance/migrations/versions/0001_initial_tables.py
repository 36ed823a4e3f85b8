"""initial tables, with the event log made append-only by triggers

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:57:16.698117
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The event log is evidence: the database itself refuses to change or delete a row.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
]
_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'events are append-only'; END $$""",
    """CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
       FOR EACH ROW EXECUTE FUNCTION events_append_only()""",
]


def _append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(dialect, [])
    for statement in statements:
        op.execute(statement)


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before_json", sa.Text(), nullable=True),
        sa.Column("after_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_entity_id"), ["entity_id"], unique=False)

    op.create_table(
        "providers",
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("provider_type", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider_id"),
    )
    op.create_table(
        "scanned_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original_name", sa.String(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("file_format", sa.String(length=16), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("message", sa.String(), nullable=True),
        sa.Column("stored_path", sa.String(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scanned_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scanned_files_sha256"), ["sha256"], unique=True)

    op.create_table(
        "certificates",
        sa.Column("certificate_id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("child_first_name", sa.String(), nullable=False),
        sa.Column("child_last_name", sa.String(), nullable=False),
        sa.Column("child_birth_date", sa.Date(), nullable=False),
        sa.Column("parent_name", sa.String(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("schedule_text", sa.String(), nullable=False),
        sa.Column("schedule_json", sa.Text(), nullable=False),
        sa.Column("weekly_hours", sa.Float(), nullable=True),
        sa.Column("schedule_type", sa.String(length=32), nullable=False),
        sa.Column("specialist_name", sa.String(), nullable=False),
        sa.Column("specialist_phone", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.provider_id"],
        ),
        sa.PrimaryKeyConstraint("certificate_id"),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificates_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "sheets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("certificate_id", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("form_version", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_file_sha256", sa.String(length=64), nullable=True),
        sa.Column("source_page", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.certificate_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("certificate_id", "month", name="uq_sheet_certificate_month"),
    )
    with op.batch_alter_table("sheets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sheets_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sheets_month"), ["month"], unique=False)
        batch_op.create_index(batch_op.f("ix_sheets_serial"), ["serial"], unique=True)
        batch_op.create_index(batch_op.f("ix_sheets_status"), ["status"], unique=False)

    op.create_table(
        "scanned_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("serial", sa.String(length=16), nullable=True),
        sa.Column("sheet_id", sa.Integer(), nullable=True),
        sa.Column("rotation", sa.Integer(), nullable=True),
        sa.Column("barcode_method", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("image_path", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["scanned_files.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sheet_id"],
            ["sheets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "page_number", name="uq_page_file_number"),
    )
    with op.batch_alter_table("scanned_pages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scanned_pages_file_id"), ["file_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scanned_pages_serial"), ["serial"], unique=False)
        batch_op.create_index(batch_op.f("ix_scanned_pages_sheet_id"), ["sheet_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scanned_pages_status"), ["status"], unique=False)

    op.create_table(
        "field_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sheet_id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("field_name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("machine_value", sa.String(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=True),
        sa.Column("final_value", sa.String(), nullable=True),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["page_id"],
            ["scanned_pages.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sheet_id"],
            ["sheets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("page_id", "field_name", name="uq_reading_page_field"),
    )
    with op.batch_alter_table("field_readings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_field_readings_page_id"), ["page_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_field_readings_sheet_id"), ["sheet_id"], unique=False)
    _append_only_triggers()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_change ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")

    with op.batch_alter_table("field_readings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_field_readings_sheet_id"))
        batch_op.drop_index(batch_op.f("ix_field_readings_page_id"))

    op.drop_table("field_readings")
    with op.batch_alter_table("scanned_pages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scanned_pages_status"))
        batch_op.drop_index(batch_op.f("ix_scanned_pages_sheet_id"))
        batch_op.drop_index(batch_op.f("ix_scanned_pages_serial"))
        batch_op.drop_index(batch_op.f("ix_scanned_pages_file_id"))

    op.drop_table("scanned_pages")
    with op.batch_alter_table("sheets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sheets_status"))
        batch_op.drop_index(batch_op.f("ix_sheets_serial"))
        batch_op.drop_index(batch_op.f("ix_sheets_month"))
        batch_op.drop_index(batch_op.f("ix_sheets_certificate_id"))

    op.drop_table("sheets")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_provider_id"))

    op.drop_table("certificates")
    with op.batch_alter_table("scanned_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scanned_files_sha256"))

    op.drop_table("scanned_files")
    op.drop_table("providers")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_entity_id"))
        batch_op.drop_index(batch_op.f("ix_events_at"))

    op.drop_table("events")
