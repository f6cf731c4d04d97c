"""Rows the tests read back to check what the app stored."""

from __future__ import annotations

from sqlalchemy import exists, func, or_, select

from blueprints.extensions import db
from models import Patient, PortalLink, RegistrationCredential, WelcomeMessage
from models.credential import MAX_FAILED_ATTEMPTS


def credentials(app, patient_id: int) -> list[RegistrationCredential]:
    with app.app_context():
        rows = db.session.scalars(
            select(RegistrationCredential).where(RegistrationCredential.patient_id == patient_id).order_by(RegistrationCredential.id)
        ).all()
        db.session.expunge_all()
        return rows


def delivery_rows(app):
    with app.app_context():
        rows = db.session.scalars(select(WelcomeMessage).order_by(WelcomeMessage.id)).all()
        db.session.expunge_all()
        return rows


def portal_status_inputs_disagreeing(session) -> list[int]:
    """Patients whose trigger-kept portal_linked / pin_active_until differ from what the links
    and credentials say (computed here the slow way, with subqueries). [] when all agree."""
    linked = exists(select(PortalLink.id).where(PortalLink.patient_id == Patient.id))
    active_until = (
        select(func.max(RegistrationCredential.expires_at))
        .where(
            RegistrationCredential.patient_id == Patient.id,
            RegistrationCredential.used_at.is_(None),
            RegistrationCredential.revoked_at.is_(None),
            RegistrationCredential.failed_attempts < MAX_FAILED_ATTEMPTS,
        )
        .scalar_subquery()
    )
    wrong = or_(Patient.portal_linked != linked, Patient.pin_active_until.is_distinct_from(active_until))
    return list(session.scalars(select(Patient.id).where(wrong).order_by(Patient.id)))
