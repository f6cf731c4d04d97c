"""Portal accounts: password rules, creation, sign-in (which starts a server-side portal session)."""

from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import PortalUser
from models.vocabulary import AuditAction, AuditOutcome
from services import audit
from services.actor import Actor, unit_of_work
from services.credentials.pins import spend_one_verification
from services.identity import portal_sessions

MIN_PORTAL_PASSWORD_LENGTH = 12


class StaffBrowser(Exception):
    """Staff are signed in on this browser: a parent's portal session never mixes into theirs."""

_TRAILING_DIGITS_AND_SYMBOLS = re.compile(r"[\d\W_]+$")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """30,000 common passwords, from the zxcvbn package's frequency lists (installed, not copied)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a portal password is refused, or None. At least 12 characters and not a common one
    (nor a common one with digits or symbols added at the end, such as 'password1234!')."""
    if len(password) < MIN_PORTAL_PASSWORD_LENGTH:
        return f"Use at least {MIN_PORTAL_PASSWORD_LENGTH} characters."
    lowered = password.lower()
    stem = _TRAILING_DIGITS_AND_SYMBOLS.sub("", lowered)
    if lowered in common_passwords() or (len(stem) >= 4 and stem in common_passwords()):
        return "This password is too common. Choose one that is harder to guess, such as a few unrelated words."
    if email and lowered.startswith(email.lower().split("@")[0]) and len(email.split("@")[0]) >= 4:
        return "Do not build the password from your email address."
    return None


def find_portal_user(session: Session, practice_id: int, email: str) -> PortalUser | None:
    return session.scalar(
        select(PortalUser).where(PortalUser.practice_id == practice_id, PortalUser.email == email.lower())
    )


def create_portal_user(session: Session, practice_id: int, email: str, password: str, hash_method: str) -> PortalUser:
    user = PortalUser(
        practice_id=practice_id,
        email=email.lower(),
        password_hash=generate_password_hash(password, method=hash_method),
    )
    session.add(user)
    session.flush()
    return user


def authenticate_portal_user(session: Session, email: str, password: str, hash_method: str) -> PortalUser | None:
    """The account whose email and password match (an email may have accounts at several
    practices). One verification at least, whatever the outcome, so failures cost the same."""
    users = session.scalars(
        select(PortalUser).where(PortalUser.email == email.strip().lower()).order_by(PortalUser.id).limit(5)
    ).all()
    if not users:
        spend_one_verification(hash_method)
        return None
    for user in users:
        if user.password_hash and check_password_hash(user.password_hash, password):
            return user
    return None


def sign_in(session: Session, actor: Actor, email: str, password: str, hash_method: str,
            staff_browser: bool, replacing: str | None = None) -> str | None:
    """A parent's sign-in: a new portal session (ending the browser's previous one, `replacing`)
    and its audit row in the account's practice, in one transaction; returns the cookie's token.
    None when the email and password match no account; StaffBrowser (audited as refused) when
    staff are signed in on this browser."""
    user = authenticate_portal_user(session, email, password, hash_method)
    if user is None:
        audit.record_alone(session, actor, AuditAction.SIGN_IN, AuditOutcome.FAILURE, detail="portal")
        return None
    actor = actor.in_practice(user.practice_id)
    if staff_browser:
        audit.record_alone(session, actor, AuditAction.SIGN_IN, AuditOutcome.REFUSED, detail="portal")
        raise StaffBrowser()
    with unit_of_work(session):
        token = portal_sessions.start(session, user.id, actor.now(), replacing)
        audit.record(session, actor, AuditAction.SIGN_IN, detail="portal")
    return token
