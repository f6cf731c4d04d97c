"""Writing and reading the audit trail (models/audit.py). Only inserts; never PHI."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEvent

log = logging.getLogger(__name__)

CSV_COLUMNS = ("occurred_at_utc", "staff", "patient_id", "action", "outcome", "detail", "client_ip")


def record(
    session: Session,
    action: str,
    outcome: str = "success",
    *,
    practice_id: int | None = None,
    staff_id: int | None = None,
    staff_username: str | None = None,
    patient_id: int | None = None,
    detail: str | None = None,
    client_ip: str | None = None,
    now: datetime | None = None,
    commit: bool = True,
) -> None:
    """Append one event. With `commit` (the default) it is its own transaction: the caller's
    work is committed already, and a refusal is recorded even though nothing else is written."""
    event = AuditEvent(
        action=action, outcome=outcome, practice_id=practice_id, staff_id=staff_id,
        staff_username=staff_username, patient_id=patient_id,
        detail=(detail or None) and detail[:200], client_ip=client_ip,
    )
    if now is not None:
        event.occurred_at = now
    session.add(event)
    if commit:
        session.commit()


def patient_history(session: Session, practice_id: int, patient_id: int, limit: int = 50) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.practice_id == practice_id, AuditEvent.patient_id == patient_id)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(session: Session, practice_id: int, start: datetime, end: datetime) -> Iterator[str]:
    """The practice's events with start <= occurred_at < end, oldest first, as CSV lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    query = (
        select(AuditEvent)
        .where(AuditEvent.practice_id == practice_id, AuditEvent.occurred_at >= start, AuditEvent.occurred_at < end)
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
        .execution_options(yield_per=500)
    )
    for event in session.scalars(query):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(
            [_cell(v) for v in (
                event.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"), event.staff_username, event.patient_id,
                event.action, event.outcome, event.detail, event.client_ip,
            )]
        )
        yield buffer.getvalue()
