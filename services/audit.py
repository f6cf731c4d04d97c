"""Writing and reading the audit trail (models/audit.py). Only inserts; never PHI."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEvent
from models.vocabulary import AuditOutcome
from services.actor import Actor, unit_of_work

# staff_id last: a username alone may name different people over the years; columns before it keep their places.
CSV_COLUMNS = ("occurred_at_utc", "staff", "patient_id", "action", "outcome", "detail", "client_ip", "staff_id")
# What a spreadsheet may read as the start of a formula: = + - @ (and their fullwidth forms, which
# some read the same), also after leading spaces; and a cell opening with a tab, a line break or
# a list separator (`;=1+1` is a formula where `;` separates cells).
_FORMULA_FIRST = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
_OPENS_ANOTHER_CELL = frozenset("\t\r\n;,")


def record(
    session: Session,
    actor: Actor,
    action: str,
    outcome: str = AuditOutcome.SUCCESS,
    *,
    patient_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Add one event to the caller's transaction (never commits): the action and its audit row
    commit together, or neither does."""
    event = AuditEvent(
        action=action, outcome=outcome, practice_id=actor.practice_id, staff_id=actor.staff_id,
        staff_username=actor.staff_username, patient_id=patient_id,
        detail=(detail or None) and detail[:200], client_ip=actor.client_ip, occurred_at=actor.now(),
    )
    session.add(event)


def record_alone(
    session: Session,
    actor: Actor,
    action: str,
    outcome: str = AuditOutcome.SUCCESS,
    *,
    patient_id: int | None = None,
    detail: str | None = None,
) -> None:
    """An event that is a unit of work by itself: a read (search, view, export) or a refusal that
    writes nothing else."""
    with unit_of_work(session):
        record(session, actor, action, outcome, patient_id=patient_id, detail=detail)


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
    """A CSV cell that a spreadsheet will not run as a formula: prefixed with ' when it could
    start one (every cell is quoted as well, so no separator inside it splits it)."""
    text = "" if value is None else str(value)
    first = text.lstrip()[:1]
    if text[:1] in _OPENS_ANOTHER_CELL or first in _FORMULA_FIRST or first in _OPENS_ANOTHER_CELL:
        return "'" + text
    return text


def export_csv(session: Session, practice_id: int, start: datetime, end: datetime) -> Iterator[str]:
    """The practice's events with start <= occurred_at < end, oldest first, as CSV lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
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
                event.action, event.outcome, event.detail, event.client_ip, event.staff_id,
            )]
        )
        yield buffer.getvalue()
