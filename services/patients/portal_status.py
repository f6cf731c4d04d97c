"""The portal status, derived (README: The outside contract) and never stored as such.

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
from models.vocabulary import PortalStatus

# The order the derivation tries them in, which is also the order search offers them in.
DERIVED_ORDER = (PortalStatus.REGISTERED, PortalStatus.PENDING, PortalStatus.SELF_REGISTERED, PortalStatus.UNREGISTERED)
STATUS_LABELS = {status: status.label for status in DERIVED_ORDER}
# Search by "all" filters on no status.
ALL_STATUSES = "all"
SEARCH_STATUSES = (ALL_STATUSES, *DERIVED_ORDER)


def _conditions(now: datetime):
    imported = Patient.imported_portal_status
    registered = or_(Patient.portal_linked, imported == PortalStatus.REGISTERED)
    # IS NOT NULL keeps the comparison two-valued, so NOT pending holds for patients without a PIN.
    has_active_credential = and_(Patient.pin_active_until.is_not(None), Patient.pin_active_until > now)
    pending = or_(has_active_credential, imported == PortalStatus.PENDING)
    self_registered = imported == PortalStatus.SELF_REGISTERED
    return registered, pending, self_registered


def portal_status_expression(now: datetime):
    """A CASE giving one of the PortalStatus values for each patient row."""
    registered, pending, self_registered = _conditions(now)
    # Plain strings: a literal in a CASE has no column type to bind an enum member by.
    return case(
        (registered, PortalStatus.REGISTERED.value),
        (pending, PortalStatus.PENDING.value),
        (self_registered, PortalStatus.SELF_REGISTERED.value),
        else_=PortalStatus.UNREGISTERED.value,
    )


def portal_status_filter(status: str, now: datetime):
    """A WHERE clause selecting patients whose derived status is `status`."""
    registered, pending, self_registered = _conditions(now)
    if status == PortalStatus.REGISTERED:
        return registered
    if status == PortalStatus.PENDING:
        return and_(not_(registered), pending)
    if status == PortalStatus.SELF_REGISTERED:
        return and_(not_(registered), not_(pending), self_registered)
    if status == PortalStatus.UNREGISTERED:
        return and_(not_(registered), not_(pending), not_(self_registered))
    raise ValueError(f"unknown status {status!r}")


def portal_status_of(session, patient_id: int, now: datetime) -> str:
    return session.scalar(select(portal_status_expression(now)).where(Patient.id == patient_id))
