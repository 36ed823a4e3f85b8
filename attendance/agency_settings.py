"""The agency's settings as stored: one row of JSON (`attendance.agency.AgencyConfig`)."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from attendance.agency import AgencyConfig
from attendance.db import record_event
from attendance.models import (
    AgencySettings,
    utcnow,
)


def load_config(session: Session) -> AgencyConfig:
    """The agency's settings (defaults until someone sets one)."""
    row = session.exec(select(AgencySettings).order_by(col(AgencySettings.id))).first()
    return AgencyConfig() if row is None else AgencyConfig.from_json(json.loads(row.config_json))


def agency_name(session: Session, default: str) -> str:
    """The agency's name as set in its settings, else `default` (ATTEND_AGENCY_NAME)."""
    return load_config(session).agency_name.strip() or default


def store_config(session: Session, config: AgencyConfig, *, actor: str) -> None:
    """Store new settings, with an event naming what changed (the caller re-applies the rules:
    `attendance.findings.change_settings`)."""
    row = session.exec(select(AgencySettings).order_by(col(AgencySettings.id))).first()
    before = load_config(session).to_json()
    after = config.to_json()
    if row is None:
        row = AgencySettings(config_json=json.dumps(after, sort_keys=True), updated_by=actor)
    else:
        row.config_json = json.dumps(after, sort_keys=True)
        row.version += 1
        row.updated_at = utcnow()
        row.updated_by = actor
    session.add(row)
    changed = {k: after[k] for k in after if before.get(k) != after[k]}
    record_event(
        session,
        actor=actor,
        entity="agency",
        entity_id="settings",
        action="settings_changed",
        before={k: before.get(k) for k in changed},
        after=changed,
    )
    session.flush()
