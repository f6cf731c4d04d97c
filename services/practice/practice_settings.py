"""Settings a practice admin changes for the whole practice: the PIN lifetime and the Terms &
Conditions its parents accept."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from models import Practice
from models.practice import MAX_PIN_LIFETIME_DAYS, TERMS_MAX_LENGTH
from models.vocabulary import AuditAction
from services import audit
from services.actor import Actor, unit_of_work

MIN_PIN_LIFETIME_DAYS = 1
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def terms_problem(text: str | None) -> str | None:
    """Why a practice's Terms & Conditions text is refused, or None."""
    if not (text or "").strip():
        return "Enter the Terms & Conditions your parents accept."
    if len(text) > TERMS_MAX_LENGTH:
        return f"Keep the Terms & Conditions to {TERMS_MAX_LENGTH:,} characters."
    return None


def terms_paragraphs(text: str) -> list[list[str]]:
    """The terms as paragraphs (split at blank lines), each a list of its lines: the page
    prints them as plain text, never as HTML."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return [[line.strip() for line in block.split("\n")] for block in _BLANK_LINES.split(normalized) if block.strip()]


def set_pin_lifetime(session: Session, actor: Actor, days: int) -> Practice:
    """How many days the practice's newly issued PINs and questions stay valid, audited with it.
    Credentials issued already keep the expiry they were issued with."""
    return save_practice_settings(session, actor, pin_lifetime_days=days)


def save_practice_settings(
    session: Session, actor: Actor, *, pin_lifetime_days: int, terms_text: str | None = None
) -> Practice:
    """The Practice Settings form: the PIN lifetime and (when given) the Terms & Conditions,
    in one audit row that says what was saved."""
    if not MIN_PIN_LIFETIME_DAYS <= pin_lifetime_days <= MAX_PIN_LIFETIME_DAYS:
        raise ValueError(f"PIN lifetime must be {MIN_PIN_LIFETIME_DAYS} to {MAX_PIN_LIFETIME_DAYS} days")
    if terms_text is not None and terms_problem(terms_text):
        raise ValueError(terms_problem(terms_text))
    practice = session.get(Practice, actor.practice_id)
    if practice is None:
        raise LookupError(f"no practice {actor.practice_id}")
    with unit_of_work(session):
        detail = f"PIN lifetime {pin_lifetime_days} days"
        practice.pin_lifetime_days = pin_lifetime_days
        terms_text = terms_text.replace("\r\n", "\n").strip() if terms_text is not None else None
        if terms_text is not None and terms_text != practice.terms_text:
            practice.terms_text = terms_text
            detail += "; Terms & Conditions changed"
        audit.record(session, actor, AuditAction.SETTINGS_CHANGE, detail=detail)
    return practice
