"""Streaming, idempotent patient import from the practice-management system's CSV (README: The outside contract).

Rows are read one at a time and written in batches, so 100,000 rows need no more memory than
1,000. A bad row is reported with its line and reason and never aborts the good ones; the reason
names the column and what is wrong with it, never the value (a row holds PHI). Names are stored
as models.names.clean_name leaves them (no invisible characters).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from models import Carrier, Patient
from models.names import clean_name
from models.patient import IMPORTED_PORTAL_STATUSES
from models.vocabulary import AuditAction, AuditOutcome
from services import audit
from services.actor import Actor, unit_of_work
from services.delivery.contact import ContactError, normalize_email_address, normalize_us_cell

REQUIRED_COLUMNS = ("chart_number", "first_name", "last_name", "date_of_birth")
BATCH_SIZE = 500
# PostgreSQL: refresh the planner's statistics when the patients written since the last ANALYZE
# reach this many, or the count at that ANALYZE if larger (so a few times per import). Without
# statistics, the lookup of a batch's existing charts scanned the whole practice: 2-4 s per batch
# at 56k rows, an import that slowed as it went (benchmarks/RESULTS.md, import).
ANALYZE_EVERY = 20_000

# Siblings share a guardian's email and cell: validate each distinct value once (pure functions;
# a value that fails is not cached, and is checked again, failing again).
_email = lru_cache(maxsize=8192)(normalize_email_address)
_cell = lru_cache(maxsize=8192)(normalize_us_cell)
_READ_COLUMNS = REQUIRED_COLUMNS + (
    "sex",
    "guardian_email",
    "guardian_cell",
    "guardian_cell_carrier",
    "portal_status",
    "name_is_unofficial",
)
# Optional columns, by the Patient field each fills. A column absent from the header leaves that
# field as it is on existing patients (a partial export must not wipe what is on file).
_OPTIONAL_FIELD_COLUMNS = {
    "sex": "sex",
    "guardian_email": "guardian_email",
    "guardian_cell": "guardian_cell",
    "guardian_cell_carrier_id": "guardian_cell_carrier",
    "imported_portal_status": "portal_status",
    "name_is_unofficial": "name_is_unofficial",
}
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}
_COMPARED_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "guardian_email",
    "guardian_cell",
    "guardian_cell_carrier_id",
    "imported_portal_status",
    "name_is_unofficial",
)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, missing columns, not UTF-8)."""


@dataclass
class RejectedRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)


class _RowError(ValueError):
    pass


def _parse_row(row: dict, carriers: dict[str, int]) -> dict:
    """Validated values for a Patient, or _RowError naming the first problem."""
    for column in _READ_COLUMNS:
        # PostgreSQL refuses NUL in text: caught here, it cannot fail the whole batch's write.
        if "\x00" in (row.get(column) or ""):
            raise _RowError(f"{column} contains a NUL character")
    values: dict = {}
    chart = (row.get("chart_number") or "").strip()
    if not chart:
        raise _RowError("chart_number is empty")
    if len(chart) > 64:
        raise _RowError("chart_number is longer than 64 characters")
    values["chart_number"] = chart
    for column in ("first_name", "last_name"):
        value = clean_name(row.get(column) or "")
        if not value:
            raise _RowError(f"{column} is empty")
        if len(value) > 100:
            raise _RowError(f"{column} is longer than 100 characters")
        values[column] = value
    raw_dob = (row.get("date_of_birth") or "").strip()
    try:
        values["date_of_birth"] = date.fromisoformat(raw_dob)
        if len(raw_dob) != 10:
            raise ValueError
    except ValueError:
        # Says what is wrong, never the value: a date of birth is PHI (as is any value of a row).
        raise _RowError("date_of_birth is not a date as YYYY-MM-DD") from None
    if values["date_of_birth"] > date.today():
        raise _RowError("date_of_birth is in the future")
    values["sex"] = (row.get("sex") or "").strip()[:16] or None
    email = (row.get("guardian_email") or "").strip()
    try:
        values["guardian_email"] = _email(email) if email else None
    except ContactError:
        raise _RowError("guardian_email is not a valid email address") from None
    cell = (row.get("guardian_cell") or "").strip()
    try:
        values["guardian_cell"] = _cell(cell) if cell else None
    except ContactError:
        raise _RowError("guardian_cell is not a valid US phone number") from None
    carrier_name = (row.get("guardian_cell_carrier") or "").strip()
    if carrier_name:
        carrier_id = carriers.get(carrier_name.lower())
        if carrier_id is None:
            raise _RowError("guardian_cell_carrier is not a known carrier (see `carriers list`)")
        values["guardian_cell_carrier_id"] = carrier_id
    else:
        values["guardian_cell_carrier_id"] = None
    status = (row.get("portal_status") or "").strip().lower()
    if status and status not in IMPORTED_PORTAL_STATUSES:
        raise _RowError(f"portal_status is not one of {', '.join(IMPORTED_PORTAL_STATUSES)}")
    values["imported_portal_status"] = status or "unregistered"
    flag = (row.get("name_is_unofficial") or "").strip().lower()
    if flag in _TRUE:
        values["name_is_unofficial"] = True
    elif flag in _FALSE:
        values["name_is_unofficial"] = False
    else:
        raise _RowError("name_is_unofficial is not true or false")
    return values


def check_utf8_file(path: str) -> None:
    """Refuse a file that is not UTF-8 before any row is written, naming the first bad line.

    Decoding errors would otherwise surface mid-stream, after earlier batches were committed.
    Reads line by line, so it needs no more memory than the import itself.
    """
    with open(path, "rb") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ImportFileError(
                    f"The file is not UTF-8 text (line {line}); save it as UTF-8 and import it again. "
                    "Nothing was imported."
                ) from None


def import_patients(session: Session, actor: Actor, lines: Iterable[str]) -> ImportReport:
    """Upsert the actor's practice's patients keyed by chart_number. `lines` is a text stream
    (open with newline=''). Each batch commits with its own audit row (counts only), and the
    import ends with one row of the totals; a refused file is audited as a failure."""
    try:
        report = _import(session, actor, lines)
    except ImportFileError:
        audit.record_alone(session, actor, AuditAction.IMPORT, AuditOutcome.FAILURE, detail="file refused (CLI)")
        raise
    # Counts only: the file's name could name a patient.
    audit.record_alone(
        session, actor, AuditAction.IMPORT,
        detail=f"CLI: created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {len(report.rejected)}",
    )
    return report


def import_patients_file(session: Session, actor: Actor, path: str) -> ImportReport:
    """`patients import`: the file is checked to be UTF-8 whole before any row is written."""
    try:
        check_utf8_file(path)
    except ImportFileError:
        audit.record_alone(session, actor, AuditAction.IMPORT, AuditOutcome.FAILURE, detail="file refused (CLI)")
        raise
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return import_patients(session, actor, handle)


def _import(session: Session, actor: Actor, lines: Iterable[str]) -> ImportReport:
    reader = csv.DictReader(lines)
    try:
        header = reader.fieldnames
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text.") from None
    if not header:
        raise ImportFileError("The file is empty; it needs a header row.")
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ImportFileError(f"The header row lacks the column(s): {', '.join(missing)}.")

    absent_fields = [field for field, column in _OPTIONAL_FIELD_COLUMNS.items() if column not in header]
    carriers = {name.lower(): cid for cid, name in session.execute(select(Carrier.id, Carrier.name))}
    report = ImportReport()
    batch: dict[str, tuple[int, dict]] = {}
    statistics = _Statistics(session)
    try:
        for row in reader:
            line = reader.line_num
            try:
                values = _parse_row(row, carriers)
            except _RowError as error:
                report.rejected.append(RejectedRow(line, str(error)))
                continue
            for absent in absent_fields:
                del values[absent]
            if values["chart_number"] in batch:
                # The same chart twice in one batch: write the first before reading the second.
                _write_batch(session, actor, batch, report)
                statistics.after_batch(report)
                batch = {}
            batch[values["chart_number"]] = (line, values)
            if len(batch) >= BATCH_SIZE:
                _write_batch(session, actor, batch, report)
                statistics.after_batch(report)
                batch = {}
    except UnicodeDecodeError:
        raise ImportFileError(f"The file is not UTF-8 text (after line {reader.line_num}).") from None
    except csv.Error as error:
        raise ImportFileError(f"Line {reader.line_num} is not valid CSV: {error}.") from None
    if batch:
        _write_batch(session, actor, batch, report)
    return report


class _Statistics:
    """Keeps PostgreSQL's statistics on patients current while an import grows the table."""

    def __init__(self, session: Session):
        self.session = session
        self.enabled = session.get_bind().dialect.name == "postgresql"
        self.written_at_last = 0

    def after_batch(self, report: ImportReport) -> None:
        written = report.created + report.updated
        if self.enabled and written - self.written_at_last >= max(ANALYZE_EVERY, self.written_at_last):
            self.session.execute(text("ANALYZE patients"))
            self.session.commit()
            self.written_at_last = written


def _write_batch(session: Session, actor: Actor, batch: dict[str, tuple[int, dict]], report: ImportReport) -> None:
    """One batch and its audit row, in one transaction."""
    practice_id = actor.practice_id
    before = (report.created, report.updated, report.unchanged)
    with unit_of_work(session):
        existing = {
            patient.chart_number: patient
            for patient in session.scalars(
                select(Patient).where(Patient.practice_id == practice_id, Patient.chart_number.in_(list(batch)))
            )
        }
        new_rows = []
        for chart, (_line, values) in batch.items():
            patient = existing.get(chart)
            if patient is None:
                # New patients go in one multi-row INSERT, not an ORM object each (the unit of work
                # was most of an import's time); the column defaults apply as for an ORM insert.
                new_rows.append({**values, **Patient.name_columns(values["first_name"], values["last_name"]),
                                 "practice_id": practice_id})
                report.created += 1
            elif _differs(patient, values):
                _apply(patient, values)
                report.updated += 1
            else:
                report.unchanged += 1
        if new_rows:
            session.execute(insert(Patient), new_rows)
        created, updated, unchanged = (
            after - then for after, then in zip((report.created, report.updated, report.unchanged), before)
        )
        audit.record(session, actor, AuditAction.IMPORT,
                     detail=f"batch of {len(batch)} rows: created {created}, updated {updated}, unchanged {unchanged}")
    session.expunge_all()


def _apply(patient: Patient, values: dict) -> None:
    patient.set_names(values["first_name"], values["last_name"])
    for name in _COMPARED_FIELDS:
        if name in values and name not in ("first_name", "last_name"):
            setattr(patient, name, values[name])


def _differs(patient: Patient, values: dict) -> bool:
    return any(getattr(patient, name) != values[name] for name in _COMPARED_FIELDS if name in values)
