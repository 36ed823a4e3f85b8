"""Data as it may be in a database filled before ids were validated at import: a provider and
a certificate with any ids, copied from an existing certificate (C-1001 by default)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from attendance.db import session_scope
from attendance.models import Certificate, Provider


def plant_certificate(
    engine: Engine,
    certificate_id: str,
    provider_id: str,
    *,
    like: str = "C-1001",
    child: tuple[str, str] | None = None,
) -> None:
    """Write a certificate (and its provider, if new) straight to the database, bypassing
    the import's checks, as an older version of the program could have."""
    with session_scope(engine) as session:
        model = session.get(Certificate, like)
        assert model is not None
        if session.get(Provider, provider_id) is None:
            session.add(
                Provider(provider_id=provider_id, name="Legacy Care", provider_type="exempt")
            )
            session.flush()
        values = model.model_dump(exclude={"created_at", "updated_at"})
        values.update(certificate_id=certificate_id, provider_id=provider_id)
        if child is not None:
            values.update(child_first_name=child[0], child_last_name=child[1])
        session.add(Certificate(**values))
