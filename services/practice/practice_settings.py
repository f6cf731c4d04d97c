"""Settings a practice admin changes for the whole practice: the PIN lifetime."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import Practice
from models.practice import MAX_PIN_LIFETIME_DAYS
from models.vocabulary import AuditAction
from services import audit
from services.actor import Actor, unit_of_work

MIN_PIN_LIFETIME_DAYS = 1


def set_pin_lifetime(session: Session, actor: Actor, days: int) -> Practice:
    """How many days the practice's newly issued PINs and questions stay valid, audited with it.
    Credentials issued already keep the expiry they were issued with."""
    if not MIN_PIN_LIFETIME_DAYS <= days <= MAX_PIN_LIFETIME_DAYS:
        raise ValueError(f"PIN lifetime must be {MIN_PIN_LIFETIME_DAYS} to {MAX_PIN_LIFETIME_DAYS} days")
    practice = session.get(Practice, actor.practice_id)
    if practice is None:
        raise LookupError(f"no practice {actor.practice_id}")
    with unit_of_work(session):
        practice.pin_lifetime_days = days
        audit.record(session, actor, AuditAction.SETTINGS_CHANGE, detail=f"PIN lifetime {days} days")
    return practice
