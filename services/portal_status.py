"""The portal status, derived (CONTRACT section 1) and never stored as such.

Registered when a portal user is linked (or the import says so); Pending while a credential is
active (or the import says a PIN from the previous system is pending); Self Registered when the
import says so; otherwise Unregistered. One SQL expression serves both display and filtering.

It reads two columns of the patient row that database triggers keep from portal_links and
registration_credentials (models.patient): `portal_linked`, and `pin_active_until`, the latest
expiry among credentials neither used, revoked nor locked. A credential is active exactly when
`pin_active_until > now`, so expiry needs no write. Reading columns rather than EXISTS subqueries
keeps a search's cost to the rows it touches (benchmarks/RESULTS.md, finding 1).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, not_, or_, select

from models import Patient

STATUS_LABELS = {
    "registered": "Registered",
    "pending": "Pending",
    "self_registered": "Self Registered",
    "unregistered": "Unregistered",
}
SEARCH_STATUSES = ("all", "registered", "pending", "self_registered", "unregistered")


def _conditions(now: datetime):
    registered = or_(Patient.portal_linked, Patient.imported_portal_status == "registered")
    # IS NOT NULL keeps the comparison two-valued, so NOT pending holds for patients without a PIN.
    has_active_credential = and_(Patient.pin_active_until.is_not(None), Patient.pin_active_until > now)
    pending = or_(has_active_credential, Patient.imported_portal_status == "pending")
    self_registered = Patient.imported_portal_status == "self_registered"
    return registered, pending, self_registered


def portal_status_expression(now: datetime):
    """A CASE giving one of STATUS_LABELS' keys for each patient row."""
    registered, pending, self_registered = _conditions(now)
    return case(
        (registered, "registered"),
        (pending, "pending"),
        (self_registered, "self_registered"),
        else_="unregistered",
    )


def portal_status_filter(status: str, now: datetime):
    """A WHERE clause selecting patients whose derived status is `status`."""
    registered, pending, self_registered = _conditions(now)
    if status == "registered":
        return registered
    if status == "pending":
        return and_(not_(registered), pending)
    if status == "self_registered":
        return and_(not_(registered), not_(pending), self_registered)
    if status == "unregistered":
        return and_(not_(registered), not_(pending), not_(self_registered))
    raise ValueError(f"unknown status {status!r}")


def portal_status_of(session, patient_id: int, now: datetime) -> str:
    return session.scalar(select(portal_status_expression(now)).where(Patient.id == patient_id))
