"""Printing blank sheets: a provider's month as one PDF, or one sheet (like `attend sheets print`).

File names carry only the provider id, month or serial: never a child's name.
"""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlmodel import col, select

from attendance import agency_settings
from attendance.db import session_scope
from attendance.ids import content_disposition, file_part
from attendance.models import Certificate, Provider, Role, Sheet
from attendance.sheets import list_sheets, sheet_print
from forms.render import SheetPrint, render_sheets
from forms.serial import format_serial
from review_ui.web import (
    AnyViewer,
    engine_of,
    month_param,
    not_found,
    render,
    settings_of,
    visible_provider,
)
from review_ui.web import visible_sheet as _visible_sheet

router = APIRouter(include_in_schema=False)


def _pdf(prints: list[SheetPrint], filename: str) -> Response:
    buffer = io.BytesIO()
    render_sheets(prints, buffer)
    return Response(
        buffer.getvalue(),
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(filename)},
    )


@router.get("/print")
def print_page(
    request: Request,
    viewer: AnyViewer,
    provider: Annotated[str | None, Query(max_length=64)] = None,
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    is_provider = viewer.role == Role.PROVIDER
    if is_provider:
        provider = viewer.provider_id
    elif provider == "":
        provider = None
    if month:
        month = month_param(month)
    with session_scope(engine_of(request)) as session:
        providers = (
            []
            if is_provider
            else [
                (p.provider_id, p.name)
                for p in session.exec(select(Provider).order_by(col(Provider.provider_id))).all()
            ]
        )
        month_query = select(Sheet.month).distinct()
        if provider:
            month_query = month_query.join(
                Certificate, col(Certificate.certificate_id) == Sheet.certificate_id
            ).where(Certificate.provider_id == provider)
        months = sorted(set(session.exec(month_query).all()), reverse=True)
        if month is None and months:
            month = months[0]
        provider_name = None
        if provider:
            found = session.get(Provider, provider)
            if found is None:
                raise HTTPException(status_code=404, detail=f"no provider {provider}")
            provider_name = found.name
        rows = []
        if provider and month:
            for sheet, certificate in list_sheets(session, month=month, provider_id=provider):
                rows.append(
                    {
                        "serial": sheet.serial,
                        "serial_text": format_serial(sheet.serial),
                        "child": f"{certificate.child_first_name} {certificate.child_last_name}",
                        "status": sheet.status,
                    }
                )
    return render(
        request,
        "print.html",
        {
            "providers": providers,
            "provider": provider,
            "provider_name": provider_name,
            "months": months,
            "month": month,
            "rows": rows,
            "is_provider": is_provider,
        },
    )


@router.get("/print/providers/{provider_id}/{month}.pdf")
def provider_pdf(request: Request, viewer: AnyViewer, provider_id: str, month: str) -> Response:
    visible_provider(viewer, provider_id)
    month = month_param(month)
    settings = settings_of(request)
    with session_scope(engine_of(request)) as session:
        if session.get(Provider, provider_id) is None:
            raise not_found()
        rows = list_sheets(session, month=month, provider_id=provider_id)
        if not rows:
            raise HTTPException(
                status_code=404,
                detail=f"no sheets issued for provider {provider_id} in {month}: issue them first",
            )
        name = agency_settings.agency_name(session, settings.agency_name)
        prints = [sheet_print(session, s, c, agency_name=name) for s, c in rows]
    return _pdf(prints, f"sheets-{file_part(provider_id)}-{month}.pdf")


@router.get("/print/sheets/{serial}.pdf")
def sheet_pdf(request: Request, viewer: AnyViewer, serial: str) -> Response:
    settings = settings_of(request)
    with session_scope(engine_of(request)) as session:
        sheet, certificate = _visible_sheet(session, viewer, serial)
        name = agency_settings.agency_name(session, settings.agency_name)
        prints = [sheet_print(session, sheet, certificate, agency_name=name)]
        canonical = sheet.serial
    return _pdf(prints, f"sheet-{canonical}.pdf")
