"""Settings a practice admin changes for the whole practice (issue 3: the PIN lifetime)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from models import Practice
from models.practice import MAX_PIN_LIFETIME_DAYS

log = logging.getLogger(__name__)

MIN_PIN_LIFETIME_DAYS = 1


def set_pin_lifetime(session: Session, practice_id: int, days: int, staff_id: int | None) -> Practice:
    """How many days the practice's newly issued PINs and questions stay valid. Commits.
    Credentials issued already keep the expiry they were issued with."""
    if not MIN_PIN_LIFETIME_DAYS <= days <= MAX_PIN_LIFETIME_DAYS:
        raise ValueError(f"PIN lifetime must be {MIN_PIN_LIFETIME_DAYS} to {MAX_PIN_LIFETIME_DAYS} days")
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise LookupError(f"no practice {practice_id}")
    previous = practice.pin_lifetime_days
    practice.pin_lifetime_days = days
    session.commit()
    log.info("practice %s PIN lifetime %s -> %s days by staff %s", practice_id, previous, days, staff_id)
    return practice
