"""The JSON API (documented at /api/openapi.json): sheet status, the public look-up, export.

Sheet status never includes a child's name; a provider sees only its own sheets and gets the
same 404 for another provider's serial as for one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from attendance.agency import AgencyConfig
from attendance.agency_settings import load_config
from attendance.db import session_scope
from attendance.export import build_export, iso_utc
from attendance.models import Certificate, Provider, Sheet
from attendance.months import parse_month
from attendance.payments import expected_payment
from attendance.sheets import list_sheets
from review_ui.routes.status import check_lookup_limit, lookup_serial
from review_ui.web import (
    AnyViewer,
    ReviewerViewer,
    engine_of,
    month_param,
    not_found,
    visible_provider,
    visible_sheet,
)

router = APIRouter(prefix="/api", tags=["attendance"])

MONTH_HELP = "a month, YYYY-MM (for example 2026-11)"


class LookupResult(BaseModel):
    """The public answer: received or not, and the agency's local date it was received."""

    serial: str = Field(description="the serial as typed, normalised (11 characters)")
    received: bool
    received_on: str | None = Field(None, description="YYYY-MM-DD in the agency's timezone")


class SheetStatusOut(BaseModel):
    """One sheet's status (no child's name)."""

    serial: str
    certificate_id: str
    provider_id: str
    month: str = Field(description="YYYY-MM")
    status: str = Field(
        description="issued, received, in_review, verified, exported, returned or void"
    )
    received_at: str | None = Field(None, description="ISO 8601, UTC")
    received_via: str | None = Field(
        None, description="how the sheet arrived: scan, or phone (a provider's photo)"
    )
    expected_payment: str | None = Field(
        None,
        description="YYYY-MM-DD the agency expects to pay a received sheet (its payment "
        "calendar); null when not received or void",
    )


def _status(sheet: Sheet, certificate: Certificate, config: AgencyConfig) -> SheetStatusOut:
    paid = None
    if sheet.received_at is not None and sheet.status not in ("void", "returned"):
        received_on = config.local_date(sheet.received_at)
        paid = expected_payment(parse_month(sheet.month), received_on, config).paid_on.isoformat()
    return SheetStatusOut(
        serial=sheet.serial,
        certificate_id=sheet.certificate_id,
        provider_id=certificate.provider_id,
        month=sheet.month,
        status=sheet.status,
        received_at=iso_utc(sheet.received_at),
        received_via=sheet.received_via,
        expected_payment=paid,
    )


@router.get(
    "/lookup/{serial}",
    response_model=LookupResult,
    summary="Was a sheet received? (public, rate-limited)",
    responses={
        404: {"description": "no sheet with that number"},
        422: {"description": "not a valid serial (length, characters or check character)"},
        429: {"description": "too many look-ups from this address; see Retry-After"},
    },
)
def lookup(request: Request, serial: str) -> Any:
    wait = check_lookup_limit(request)
    if wait:
        return JSONResponse(
            {"detail": "too many look-ups from this address; try again later"},
            status_code=429,
            headers={"Retry-After": str(int(wait) + 1)},
        )
    if len(serial) > 64:
        raise HTTPException(status_code=422, detail="not a valid serial: too long")
    with session_scope(engine_of(request)) as session:
        answer = lookup_serial(session, serial)
    if answer.outcome == "unknown":
        raise HTTPException(status_code=404, detail="no sheet with that number")
    if answer.serial is None:
        raise HTTPException(status_code=422, detail=answer.message("en"))
    return LookupResult(
        serial=answer.serial,
        received=answer.received,
        received_on=answer.received_on.isoformat() if answer.received_on else None,
    )


@router.get(
    "/sheets/{serial}",
    response_model=SheetStatusOut,
    summary="One sheet's status",
    responses={404: {"description": "no such sheet, or not yours"}},
)
def sheet_status(request: Request, viewer: AnyViewer, serial: str) -> SheetStatusOut:
    with session_scope(engine_of(request)) as session:
        sheet, certificate = visible_sheet(session, viewer, serial)
        return _status(sheet, certificate, load_config(session))


@router.get(
    "/providers/{provider_id}/sheets",
    response_model=list[SheetStatusOut],
    summary="A provider's sheets (optionally of one month)",
    responses={404: {"description": "no such provider, or not yours"}},
)
def provider_sheets(
    request: Request,
    viewer: AnyViewer,
    provider_id: str,
    month: Annotated[str | None, Query(description=MONTH_HELP, max_length=16)] = None,
) -> list[SheetStatusOut]:
    visible_provider(viewer, provider_id)
    checked = month_param(month) if month else None
    with session_scope(engine_of(request)) as session:
        if session.get(Provider, provider_id) is None:
            raise not_found()
        config = load_config(session)
        return [
            _status(s, c, config)
            for s, c in list_sheets(session, month=checked, provider_id=provider_id)
        ]


@router.get(
    "/export",
    summary="The month's export (as `attend export --format json`)",
    responses={403: {"description": "reviewers and admins only"}},
)
def export(
    request: Request,
    viewer: ReviewerViewer,
    month: Annotated[str, Query(description=MONTH_HELP, max_length=16)],
) -> dict[str, Any]:
    checked = month_param(month)
    with session_scope(engine_of(request)) as session:
        return build_export(session, checked)
