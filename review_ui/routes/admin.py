"""The admin pages: users, certificates and issuing, and the agency's rule settings.

Admins only. Every change goes through the same domain functions as the command line
(`add_user`, `update_user`, `import_certificates`, `issue_sheets`, `change_settings`), which write
the events with the admin's username as the actor.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from attendance.agency import (
    ABSENCE_CATEGORIES,
    PAYABLE_RULES,
    AgencyConfig,
    InvalidSetting,
    settable_keys,
)
from attendance.agency_settings import load_config
from attendance.certificates import CertificateImportError, import_certificates
from attendance.db import session_scope
from attendance.findings import change_settings
from attendance.flags import FLAG_CODES, Disposition
from attendance.models import Certificate, Provider, Role, Sheet, User
from attendance.months import InvalidMonth, month_key, parse_month
from attendance.sheets import issue_sheets
from review_ui.auth import MAX_PASSWORD, MIN_PASSWORD, InvalidUser, add_user, update_user
from review_ui.web import CSRF, AdminViewer, Viewer, engine_of, not_found, render, settings_of

router = APIRouter(include_in_schema=False)

ROLES = [role.value for role in Role]
MAX_UPLOAD = 5 * 1024 * 1024  # a certificates file of many thousand rows is well under this
MAX_SETTING = 4000
USER_NOTICES = {
    "added": "User added.",
    "updated": "User updated. Their open sessions were ended; they log in again.",
}

# Labels and hints for the agency form, in the order of `settable_keys()`.
SETTING_HELP = {
    "timezone": "IANA time zone of the agency's local dates, e.g. America/Los_Angeles.",
    "holidays": "Dates YYYY-MM-DD, separated by commas.",
    "due_day": "Sheets are due by this day of the following month (1-28).",
    "june_due_day": "June sheets are due by this day of July (1-28).",
    "past_due_days": "Received more than this many days after the month: past due.",
    "window_tolerance_minutes": "Minutes outside the certified schedule that are tolerated.",
    "weekly_consistency": "Flag a week off the certified need by more than this share (0-1); "
    "the weekly flag is off by default (see hours_consistency).",
    "hours_consistency": "A finding when the month's hours are off the certified need by "
    "more than this share (0-1).",
    "qa_sample_rate": "Share of auto-accepted time fields and signatures also sent to review "
    "(0-1).",
    "qa_batch_cap": "At most this many QA samples per intake batch.",
    "claim_minutes": "How long a reviewer holds claimed items.",
    "return_address": "Where providers mail corrected sheets (printed on returned notices).",
    "agency_phone": "Printed on notices when a certificate has no specialist phone.",
    "agency_name": "Printed at the top of every sheet and notice, and shown in this app. "
    "Empty: the server's ATTEND_AGENCY_NAME.",
    "payment_day": "Sheets are paid on this day of the month (1-28); shown to providers.",
    "payment_cutoff_day": "Received by this day of a month (next business day): paid that "
    "month; later: the next month (1-28).",
    "june_payment_cutoff_day": "June sheets received by this day of July are paid in July (1-28).",
    "phone_photos": "Photos sent from a provider's phone: submission (the photo is the "
    "sheet), advance_copy (the sheet waits for the original) or off.",
}


# --- overview -----------------------------------------------------------------------------


@router.get("/admin")
def overview(request: Request, viewer: AdminViewer) -> Response:
    with Session(engine_of(request)) as session:
        by_role = {role: 0 for role in ROLES}
        inactive = 0
        for role, active, count in session.exec(
            select(User.role, User.active, func.count()).group_by(col(User.role), col(User.active))
        ).all():
            if active:
                by_role[role] = by_role.get(role, 0) + count
            else:
                inactive += count
        certificates = session.exec(select(func.count()).select_from(Certificate)).one()
        providers = session.exec(select(func.count()).select_from(Provider)).one()
        latest = session.exec(select(func.max(Sheet.month))).one()
        by_status: list[tuple[str, int]] = []
        if latest:
            by_status = [
                (status, count)
                for status, count in session.exec(
                    select(Sheet.status, func.count())
                    .where(Sheet.month == latest)
                    .group_by(Sheet.status)
                    .order_by(Sheet.status)
                ).all()
            ]
    return render(
        request,
        "admin.html",
        {
            "by_role": by_role,
            "inactive": inactive,
            "certificates": certificates,
            "providers": providers,
            "latest_month": latest,
            "by_status": by_status,
        },
    )


# --- users --------------------------------------------------------------------------------


def _users_page(
    request: Request,
    *,
    error: str | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with Session(engine_of(request)) as session:
        users = list(session.exec(select(User).order_by(col(User.username))).all())
        providers = list(
            session.exec(select(Provider.provider_id).order_by(col(Provider.provider_id))).all()
        )
    return render(
        request,
        "admin_users.html",
        {
            "users": users,
            "providers": providers,
            "roles": ROLES,
            "error": error,
            "notice": notice,
            "form": form or {},
            "min_password": MIN_PASSWORD,
            "max_password": MAX_PASSWORD,
        },
        status_code=status_code,
    )


@router.get("/admin/users")
def users(request: Request, viewer: AdminViewer, done: str | None = None) -> Response:
    return _users_page(request, notice=USER_NOTICES.get(done or ""))


@router.post("/admin/users", dependencies=[CSRF])
def user_add(
    request: Request,
    viewer: AdminViewer,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=256)],
    display_name: Annotated[str, Form(max_length=128)] = "",
    provider_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    provider = provider_id.strip() if role == Role.PROVIDER.value else ""
    try:
        with session_scope(engine_of(request)) as session:
            add_user(
                session,
                username=username,
                password=password,
                role=role,
                provider_id=provider or None,
                display_name=display_name,
                actor=viewer.actor,
            )
    except InvalidUser as error:
        kept = {
            "username": username,
            "display_name": display_name,
            "role": role,
            "provider_id": provider_id,
        }
        return _users_page(request, error=str(error), form=kept, status_code=400)
    return RedirectResponse("/admin/users?done=added", status_code=303)


def _self_change_refused(viewer: Viewer, user_id: int, role: str, active: bool) -> str | None:
    """An admin may not lock themself out: the agency is never left without an admin."""
    if user_id != viewer.user_id:
        return None
    if not active:
        return "You cannot deactivate your own account. Another admin can."
    if role != Role.ADMIN.value:
        return "You cannot remove your own admin role. Another admin can."
    return None


@router.post("/admin/users/{user_id}", dependencies=[CSRF])
def user_update(
    request: Request,
    viewer: AdminViewer,
    user_id: int,
    role: Annotated[str, Form(max_length=16)],
    provider_id: Annotated[str, Form(max_length=64)] = "",
    active: Annotated[str, Form(max_length=8)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    is_active = active.strip().lower() in ("on", "1", "true", "yes")
    refused = _self_change_refused(viewer, user_id, role, is_active)
    if refused:
        return _users_page(request, error=refused, status_code=400)
    provider = provider_id.strip() if role == Role.PROVIDER.value else ""
    try:
        with session_scope(engine_of(request)) as session:
            user = session.get(User, user_id)
            if user is None:
                raise not_found()
            update_user(
                session,
                user,
                actor=viewer.actor,
                role=role,
                provider_id=provider or None,
                active=is_active,
                password=password or None,
            )
    except InvalidUser as error:
        return _users_page(request, error=str(error), status_code=400)
    if user_id == viewer.user_id:
        # update_user ended this admin's own sessions too (e.g. after a password change).
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/admin/users?done=updated", status_code=303)


# --- certificates and issuing ---------------------------------------------------------------


def _next_month(session: Session) -> str:
    latest = session.exec(select(func.max(Sheet.month))).one()
    if not latest:
        return ""
    first = parse_month(latest)
    return month_key(
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


def _certificates_page(
    request: Request,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    with Session(engine_of(request)) as session:
        counts = {
            "certificates": session.exec(select(func.count()).select_from(Certificate)).one(),
            "providers": session.exec(select(func.count()).select_from(Provider)).one(),
        }
        months = list(
            session.exec(
                select(Sheet.month, func.count())
                .group_by(Sheet.month)
                .order_by(col(Sheet.month).desc())
                .limit(6)
            ).all()
        )
        next_month = _next_month(session)
    values: dict[str, Any] = {
        "counts": counts,
        "months": months,
        "issue_month": next_month,
        "import_result": None,
        "import_errors": [],
        "import_error": None,
        "issue_result": None,
        "issue_error": None,
    }
    values.update(context)
    return render(request, "admin_certificates.html", values, status_code=status_code)


@router.get("/admin/certificates")
def certificates(request: Request, viewer: AdminViewer) -> Response:
    return _certificates_page(request)


@router.post("/admin/certificates", dependencies=[CSRF])
def certificates_import(request: Request, viewer: AdminViewer, file: UploadFile) -> Response:
    data = file.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _certificates_page(
            request,
            import_error=f"The file is larger than {MAX_UPLOAD // (1024 * 1024)} MB.",
            status_code=400,
        )
    # The upload's own name is never used: scanners and people name files after children.
    with tempfile.TemporaryDirectory(prefix="attend-certificates-") as folder:
        path = Path(folder) / "certificates.csv"
        path.write_bytes(data)
        try:
            with session_scope(engine_of(request)) as session:
                result = import_certificates(session, path, actor=viewer.actor)
        except CertificateImportError as error:
            return _certificates_page(
                request,
                import_error=str(error),
                import_errors=[
                    {"line": e.line, "column": e.column or "", "reason": e.reason}
                    for e in error.errors
                ],
                status_code=400,
            )
    return _certificates_page(request, import_result=result)


@router.post("/admin/sheets/issue", dependencies=[CSRF])
def sheets_issue(
    request: Request, viewer: AdminViewer, month: Annotated[str, Form(max_length=16)]
) -> Response:
    try:
        first = parse_month(month)
    except InvalidMonth as error:
        return _certificates_page(request, issue_error=str(error), status_code=400)
    with session_scope(engine_of(request)) as session:
        result = issue_sheets(session, first, actor=viewer.actor)
    return _certificates_page(request, issue_result=result, issue_month=result.month)


# --- agency settings ------------------------------------------------------------------------


def setting_text(config: AgencyConfig, key: str) -> str:
    """A setting as the text `attend agency set KEY VALUE` accepts for it."""
    data = config.to_json()
    if key.startswith("disposition."):
        return config.disposition(key.split(".", 1)[1]).value
    if key.startswith("payable_rule."):
        return str(data["payable_rules"][key.split(".", 1)[1]])
    if key.startswith("absence_limits."):
        limit = data["absence_limits"].get(key.split(".", 1)[1])
        return "unlimited" if limit is None else str(limit)
    if key == "holidays":
        return ",".join(data["holidays"])
    value = data[key]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _help(key: str) -> str:
    if key.startswith("absence_limits."):
        return "Days per fiscal year; a whole number, or unlimited."
    if key.startswith("disposition."):
        flag = FLAG_CODES[key.split(".", 1)[1]]
        return (
            f"{flag.meaning} ({flag.severity.value}). Default {flag.disposition.value}: {flag.why}."
        )
    if key.startswith("payable_rule."):
        return (
            "certified_need: the certificate's hours, whatever the attendance; "
            "actual_capped: the hours of care inside the authorized hours, up to the "
            "certified weekly hours."
        )
    return SETTING_HELP.get(key, "")


def _choices(key: str) -> tuple[str, ...]:
    if key.startswith("disposition."):
        return tuple(d.value for d in Disposition)
    if key.startswith("payable_rule."):
        return PAYABLE_RULES
    return ()


def _agency_page(
    request: Request,
    config: AgencyConfig,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    shown = values or {}
    fields = [
        {
            "key": key,
            "id": "setting-" + key.replace(".", "-").replace("_", "-"),
            "value": shown.get(key, setting_text(config, key)),
            "help": _help(key),
            "error": (errors or {}).get(key),
            "multiline": key == "return_address",
            "choices": _choices(key),
        }
        for key in settable_keys()
    ]
    return render(
        request,
        "admin_agency.html",
        {
            "fields": fields,
            "errors": errors or {},
            "notice": notice,
            "review_threshold": settings_of(request).review_threshold,
            "env_agency_name": settings_of(request).agency_name,
            "categories": ABSENCE_CATEGORIES,
        },
        status_code=status_code,
    )


@router.get("/admin/agency")
def agency(request: Request, viewer: AdminViewer, saved: str | None = None) -> Response:
    with Session(engine_of(request)) as session:
        config = load_config(session)
    notice = {"1": "Settings saved; the rules were applied again to the sheets in play."}.get(
        saved or ""
    )
    if saved == "0":
        notice = "Nothing changed."
    return _agency_page(request, config, notice=notice)


def _save_agency(request: Request, viewer: Viewer, submitted: dict[str, str]) -> Response:
    with session_scope(engine_of(request)) as session:
        current = load_config(session)
        config = current
        errors: dict[str, str] = {}
        for key in settable_keys():
            if key not in submitted:
                continue
            text = submitted[key]
            if key == "return_address":
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            elif key == "holidays":
                text = ",".join(part.strip() for part in text.replace("\n", ",").split(","))
            else:
                text = text.strip()
            if len(text) > MAX_SETTING:
                errors[key] = f"{key} is longer than {MAX_SETTING} characters"
                continue
            if text == setting_text(current, key):
                continue
            try:
                config = config.with_setting(key, text)
            except InvalidSetting as error:
                errors[key] = str(error)
        if errors:
            session.rollback()
            return _agency_page(request, current, values=submitted, errors=errors, status_code=400)
        if config == current:
            return RedirectResponse("/admin/agency?saved=0", status_code=303)
        # Stores the settings (one audited event) and re-applies the rules to the sheets in
        # play, as `attend agency set` does.
        change_settings(session, config, actor=viewer.actor)
    return RedirectResponse("/admin/agency?saved=1", status_code=303)


@router.post("/admin/agency", dependencies=[CSRF])
async def agency_save(request: Request, viewer: AdminViewer) -> Response:
    form = await request.form()  # already parsed (and cached) by the CSRF check
    submitted = {key: value for key in settable_keys() if isinstance(value := form.get(key), str)}
    response: Response = await run_in_threadpool(_save_agency, request, viewer, submitted)
    return response
