"""Database tables. Machine values and reviewers' values live in separate columns."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from attendance import clock


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC (the database columns store and return UTC), by the
    program's clock (`attendance.clock`)."""
    return clock.now()


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A moment, stored in UTC and always read back timezone-aware in UTC.

    SQLite keeps no time zone (it hands back naive datetimes), PostgreSQL does: with this
    type the code sees the same aware UTC value from both, so no caller has to guess."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"a stored moment must be a timezone-aware datetime, not {value!r}")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


def _moment(**options: Any) -> Any:
    """A `UtcDateTime` column (`Field` options as usual: default_factory, index, ...)."""
    return Field(sa_type=UtcDateTime, **options)


class ProviderType(StrEnum):
    LICENSED_CENTER = "licensed_center"
    LICENSED_FAMILY = "licensed_family"
    EXEMPT = "exempt"


class ScheduleType(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    VARIABLE = "variable"


class SheetStatus(StrEnum):
    ISSUED = "issued"
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    VERIFIED = "verified"
    EXPORTED = "exported"
    RETURNED = "returned"
    VOID = "void"


class FileStatus(StrEnum):
    PROCESSING = "processing"  # claimed by the watched-folder intake, pages queued
    PROCESSED = "processed"
    FAILED = "failed"


class PageStatus(StrEnum):
    IDENTIFIED = "identified"
    UNIDENTIFIED = "unidentified"
    DUPLICATE = "duplicate"
    FAILED = "failed"  # the page could not be rendered or decoded (reason says why)


class ArrivalState(StrEnum):
    """What became of a file that arrived in the intake folder (or was uploaded)."""

    CLAIMING = "claiming"  # recorded, about to be moved out of the inbox
    QUEUED = "queued"  # in the processing folder, its pages queued as jobs
    DONE = "done"  # every page processed; the file is in the archive
    FAILED = "failed"  # quarantined with a reason
    DUPLICATE = "duplicate"  # the same bytes arrived before; moved aside, not counted again


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # held by a worker under a lease
    DONE = "done"
    FAILED = "failed"


class Provider(SQLModel, table=True):
    __tablename__ = "providers"

    provider_id: str = Field(primary_key=True, max_length=64)
    name: str
    provider_type: str = Field(max_length=32)
    created_at: dt.datetime = _moment(default_factory=utcnow)
    updated_at: dt.datetime = _moment(default_factory=utcnow)


class Certificate(SQLModel, table=True):
    __tablename__ = "certificates"

    certificate_id: str = Field(primary_key=True, max_length=64)
    provider_id: str = Field(foreign_key="providers.provider_id", index=True, max_length=64)
    child_first_name: str
    child_last_name: str
    child_birth_date: dt.date
    parent_name: str
    start_date: dt.date
    end_date: dt.date
    schedule_text: str
    # Normalised schedule: {"0": [[450, 1050]], ...} weekday (0 = Monday) -> minute windows.
    schedule_json: str = Field(sa_column=Column(Text, nullable=False))
    weekly_hours: float | None = None
    schedule_type: str = Field(max_length=32)
    specialist_name: str
    specialist_phone: str
    created_at: dt.datetime = _moment(default_factory=utcnow)
    updated_at: dt.datetime = _moment(default_factory=utcnow)


class Sheet(SQLModel, table=True):
    __tablename__ = "sheets"
    __table_args__ = (
        UniqueConstraint("certificate_id", "month", name="uq_sheet_certificate_month"),
    )

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(unique=True, index=True, max_length=16)
    certificate_id: str = Field(
        foreign_key="certificates.certificate_id", index=True, max_length=64
    )
    month: str = Field(index=True, max_length=7)  # YYYY-MM
    form_version: str = Field(max_length=32)
    status: str = Field(default=SheetStatus.ISSUED.value, index=True, max_length=16)
    issued_at: dt.datetime = _moment(default_factory=utcnow)
    received_at: dt.datetime | None = _moment(default=None)
    source_file_sha256: str | None = Field(default=None, max_length=64)
    source_page: int | None = None
    # How the record page arrived: "scan" (the mailroom's scans: watched folder, intake run,
    # upload) or "phone" (a photo a provider sent from the provider page); None: not received.
    received_via: str | None = Field(default=None, max_length=16)


class ScannedFile(SQLModel, table=True):
    __tablename__ = "scanned_files"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(unique=True, index=True, max_length=64)
    # Kept for the mailroom to find a file again; never logged (scanners name files after people).
    original_name: str
    size_bytes: int
    file_format: str | None = Field(default=None, max_length=16)
    page_count: int | None = None
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    message: str | None = None
    stored_path: str | None = None
    received_at: dt.datetime = _moment(default_factory=utcnow)
    processed_at: dt.datetime | None = _moment(default=None)


class ScannedPage(SQLModel, table=True):
    __tablename__ = "scanned_pages"
    __table_args__ = (
        UniqueConstraint("file_id", "page_number", name="uq_page_file_number"),
        # One record page per sheet, whatever the code does: a sheet is received once.
        Index(
            "uq_one_record_page_per_sheet",
            "sheet_id",
            unique=True,
            sqlite_where=text("is_record"),
            postgresql_where=text("is_record"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(foreign_key="scanned_files.id", index=True)
    page_number: int
    status: str = Field(index=True, max_length=16)
    serial: str | None = Field(default=None, index=True, max_length=16)
    sheet_id: int | None = Field(default=None, foreign_key="sheets.id", index=True)
    rotation: int | None = None
    barcode_method: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=64)
    image_path: str | None = None
    created_at: dt.datetime = _moment(default_factory=utcnow)
    # Registration: RMS fit residual in points; a page that could not be registered well goes
    # to review as a whole page with `review_reason`, its fields unread.
    registration_residual_pt: float | None = None
    needs_review: bool = False
    review_reason: str | None = Field(default=None, max_length=64)
    # The page warped upright onto its layout (canonical, 200 dpi grey PNG): field crops for
    # reviewers and training data are cut from it. Named by content hash and page only.
    canon_path: str | None = None
    # This page is its sheet's record (the scan that received it); a duplicate, or the record
    # of a returned sheet that was sent back, is not.
    is_record: bool = False


class FieldReading(SQLModel, table=True):
    __tablename__ = "field_readings"
    __table_args__ = (UniqueConstraint("page_id", "field_name", name="uq_reading_page_field"),)

    id: int | None = Field(default=None, primary_key=True)
    sheet_id: int = Field(foreign_key="sheets.id", index=True)
    page_id: int = Field(foreign_key="scanned_pages.id", index=True)
    field_name: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    machine_value: str | None = None
    confidence: float | None = None
    needs_review: bool = False
    reason: str | None = Field(default=None, max_length=32)
    model_version: str | None = Field(default=None, max_length=32)
    # The reviewer's value is kept apart: the machine's reading is evidence, never overwritten.
    final_value: str | None = None
    reviewed: bool = False
    reviewed_by: str | None = Field(default=None, max_length=64)
    reviewed_at: dt.datetime | None = _moment(default=None)
    version: int = 1


class Event(SQLModel, table=True):
    """Append-only log: database triggers refuse UPDATE and DELETE on this table."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = _moment(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64)
    entity: str = Field(max_length=32)
    entity_id: str = Field(index=True, max_length=64)
    action: str = Field(max_length=32)
    before_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class IntakeFile(SQLModel, table=True):
    """One file that arrived: every arrival has a row, so files in = done + failed + duplicate."""

    __tablename__ = "intake_files"

    id: int | None = Field(default=None, primary_key=True)
    # The file's name in the processing, archive-less folders: an id, never the original name.
    claim_id: str = Field(unique=True, max_length=64)
    batch_id: str = Field(index=True, max_length=32)
    source: str = Field(max_length=16)  # watch | upload | phone
    # The provider who sent it from the provider page (source "phone"), else None.
    provider_id: str | None = Field(default=None, index=True, max_length=64)
    # Kept for the mailroom to find a file again; never logged (scanners name files after people).
    original_name: str
    size_bytes: int | None = None
    sha256: str | None = Field(default=None, index=True, max_length=64)
    state: str = Field(index=True, max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    message: str | None = None
    file_id: int | None = Field(default=None, foreign_key="scanned_files.id", index=True)
    page_count: int | None = None
    arrived_at: dt.datetime = _moment(default_factory=utcnow)
    finished_at: dt.datetime | None = _moment(default=None)
    # Where the file was moved once finished (archive | quarantine | duplicates), and when.
    placed_in: str | None = Field(default=None, max_length=16)
    placed_at: dt.datetime | None = _moment(default=None)


class PageJob(SQLModel, table=True):
    """One page to process. Claimed under a lease; done exactly once (the page row is unique)."""

    __tablename__ = "page_jobs"
    __table_args__ = (
        UniqueConstraint("intake_file_id", "page_number", name="uq_job_file_page"),
        Index("ix_page_jobs_state_id", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    intake_file_id: int = Field(foreign_key="intake_files.id", index=True)
    file_id: int = Field(foreign_key="scanned_files.id")
    page_number: int
    state: str = Field(max_length=16)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: dt.datetime | None = _moment(default=None)
    reason: str | None = Field(default=None, max_length=32)
    message: str | None = None
    created_at: dt.datetime = _moment(default_factory=utcnow)
    finished_at: dt.datetime | None = _moment(default=None)


class FlagState(StrEnum):
    OPEN = "open"  # raised by the rules, not yet looked at
    ACCEPTED = "accepted"  # a reviewer checked it and let it stand (kept in the export)
    CLEARED = "cleared"  # the rules no longer raise it (a correction cleared it)


class ItemKind(StrEnum):
    FIELD = "field"  # a field read with low confidence
    QA_SAMPLE = "qa_sample"  # an auto-accepted field drawn at random to measure the error
    FLAG = "flag"  # (before findings) a rule flag on one day that needed a person
    FINDING = "finding"  # a problem a person must decide: one flag code on a sheet, its days
    UNIDENTIFIED_PAGE = "unidentified_page"  # a page whose sheet is not known
    UNREGISTERED_PAGE = "unregistered_page"  # a sheet's page that could not be registered


class ItemState(StrEnum):
    OPEN = "open"
    DONE = "done"


class AgencySettings(SQLModel, table=True):
    """The agency's rule settings (`attendance.agency.AgencyConfig`), one row."""

    __tablename__ = "agency_settings"

    id: int | None = Field(default=None, primary_key=True)
    config_json: str = Field(sa_column=Column(Text, nullable=False))
    version: int = 1
    updated_at: dt.datetime = _moment(default_factory=utcnow)
    updated_by: str = Field(max_length=64)


class SheetFlag(SQLModel, table=True):
    """A rule flag on a sheet; kept when cleared, so the history of a sheet is complete."""

    __tablename__ = "sheet_flags"
    __table_args__ = (UniqueConstraint("sheet_id", "code", "day", name="uq_flag_sheet_code_day"),)

    id: int | None = Field(default=None, primary_key=True)
    sheet_id: int = Field(foreign_key="sheets.id", index=True)
    code: str = Field(max_length=32)
    severity: str = Field(max_length=8)
    day: str = Field(default="", max_length=10)  # YYYY-MM-DD, or "" for the whole sheet
    message: str
    state: str = Field(default=FlagState.OPEN.value, max_length=16)
    raised_at: dt.datetime = _moment(default_factory=utcnow)
    resolved_by: str | None = Field(default=None, max_length=64)
    resolved_at: dt.datetime | None = _moment(default=None)
    note: str | None = None


class ReviewItem(SQLModel, table=True):
    """One thing a reviewer must look at. `key` names what it is about, so it exists once."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_queue", "state", "deadline", "priority"),)

    id: int | None = Field(default=None, primary_key=True)
    # field:ID | qa:ID | page:ID | finding:SHEET:CODE (flag:ID before findings)
    key: str = Field(unique=True, max_length=64)
    kind: str = Field(max_length=24)
    state: str = Field(default=ItemState.OPEN.value, max_length=8)
    sheet_id: int | None = Field(default=None, foreign_key="sheets.id", index=True)
    page_id: int | None = Field(default=None, foreign_key="scanned_pages.id", index=True)
    reading_id: int | None = Field(default=None, foreign_key="field_readings.id", index=True)
    flag_id: int | None = Field(default=None, foreign_key="sheet_flags.id", index=True)
    finding_code: str | None = Field(default=None, max_length=32)  # a finding's flag code
    # Queue order: the sheet's payment deadline, then the lowest confidence first (flags and
    # pages have priority 0, before any field).
    deadline: dt.date
    priority: float = 0.0
    field_kind: str | None = Field(default=None, max_length=16)
    machine_value: str | None = Field(default=None, max_length=32)  # grouped verification
    claimed_by: str | None = Field(default=None, max_length=64)
    claim_expires_at: dt.datetime | None = _moment(default=None)
    created_at: dt.datetime = _moment(default_factory=utcnow)
    resolution: str | None = Field(default=None, max_length=16)
    resolved_by: str | None = Field(default=None, max_length=64)
    resolved_at: dt.datetime | None = _moment(default=None)
    # For a QA sample: did the reviewer find the machine's value wrong?
    machine_was_wrong: bool | None = None


class TrainingCrop(SQLModel, table=True):
    """A digit cell a reviewer verified: training data for the digit model, never unverified."""

    __tablename__ = "training_crops"
    __table_args__ = (UniqueConstraint("reading_id", "cell", name="uq_training_reading_cell"),)

    id: int | None = Field(default=None, primary_key=True)
    reading_id: int = Field(foreign_key="field_readings.id", index=True)
    cell: int
    label: str = Field(max_length=1)
    model_version: str | None = Field(default=None, max_length=32)
    png: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    verified_by: str = Field(max_length=64)
    created_at: dt.datetime = _moment(default_factory=utcnow)


class Role(StrEnum):
    """What a web user may do. Checked on the server for every route (review_ui/auth.py)."""

    ADMIN = "admin"
    MAILROOM = "mailroom"
    REVIEWER = "reviewer"
    PROVIDER = "provider"


class User(SQLModel, table=True):
    """A person who logs in to the web app. A provider user sees only its provider's sheets."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    password_hash: str = Field(max_length=255)  # argon2id, PHC string
    role: str = Field(max_length=16)
    provider_id: str | None = Field(
        default=None, foreign_key="providers.provider_id", index=True, max_length=64
    )
    display_name: str = Field(default="", max_length=128)
    active: bool = True
    created_at: dt.datetime = _moment(default_factory=utcnow)
    updated_at: dt.datetime = _moment(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    """A logged-in browser. Only the token's SHA-256 is stored; logout deletes the row."""

    __tablename__ = "web_sessions"

    token_sha256: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: dt.datetime = _moment(default_factory=utcnow)
    last_seen_at: dt.datetime = _moment(default_factory=utcnow)
