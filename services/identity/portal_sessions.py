"""Server-side portal sessions for parents (and teenagers), like the staff ones
(services/identity/staff_sessions.py): the cookie carries a random token, the database its
SHA-256 with the account and the session's clocks. A session is alive while it has not ended,
its last request is within PORTAL_SESSION_IDLE_MINUTES and its start within
PORTAL_SESSION_MAX_HOURS. Sign-out and a password reset end the row, so a copied cookie is dead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import PortalSession, PortalUser
from models.vocabulary import AuditAction, PortalSessionEndReason
from services import audit
from services.actor import Actor, unit_of_work
from services.identity.session_tokens import (
    ACTIVITY_RESOLUTION,
    SessionEnded,
    SessionLimits,
    expiry_reason,
    new_token,
    token_hash,
)

__all__ = ["SessionEnded", "SessionLimits", "end_all_of", "resume", "sign_out", "start"]


def start(session: Session, portal_user_id: int, now: datetime, replacing: str | None = None) -> str:
    """A new session for the account, in the caller's transaction (which writes its audit row);
    returns the token for the cookie. The browser's previous session (`replacing`, its token)
    ends, so no copy of its cookie outlives it."""
    if replacing:
        _end(session, PortalSession.token_hash == token_hash(replacing), PortalSessionEndReason.REPLACED, now)
    token, hashed = new_token()
    session.add(PortalSession(token_hash=hashed, portal_user_id=portal_user_id, created_at=now, last_seen_at=now))
    return token


def resume(session: Session, token: str | None, limits: SessionLimits, now: datetime) -> PortalUser:
    """The account of the live session this cookie token names, its activity recorded. Raises
    SessionEnded (no token, no such session, signed out, reset, idle or too old)."""
    if not token:
        raise SessionEnded("none")
    row = session.scalar(select(PortalSession).where(PortalSession.token_hash == token_hash(token)))
    if row is None:
        raise SessionEnded("unknown")
    reason = expiry_reason(row, limits, now)
    if reason:
        if row.ended_at is None:
            with unit_of_work(session):
                _end(session, PortalSession.id == row.id, reason, now)
        raise SessionEnded(reason)
    row_id, user_id = row.id, row.portal_user_id
    if now - row.last_seen_at >= ACTIVITY_RESOLUTION:
        with unit_of_work(session):
            session.execute(
                update(PortalSession).where(PortalSession.id == row_id).values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
    return session.get(PortalUser, user_id)


def _end(session: Session, which, reason: str, now: datetime) -> None:
    session.execute(
        update(PortalSession)
        .where(which, PortalSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    )


def end_all_of(session: Session, portal_user_id: int, reason: str, now: datetime) -> None:
    """End every session of the account (a password reset), in the caller's transaction."""
    _end(session, PortalSession.portal_user_id == portal_user_id, reason, now)


def sign_out(session: Session, actor: Actor, token: str | None) -> int | None:
    """End this browser's session on the server (a copied cookie is dead too), audited in the
    account's practice, whose id it returns (the sign-in page that follows names it). Nothing
    to do without a live session: None."""
    if not token:
        return None
    row = session.scalar(
        select(PortalSession).where(PortalSession.token_hash == token_hash(token), PortalSession.ended_at.is_(None))
    )
    if row is None:
        return None
    practice_id = row.portal_user.practice_id
    with unit_of_work(session):
        _end(session, PortalSession.id == row.id, PortalSessionEndReason.SIGNED_OUT, actor.now())
        audit.record(session, actor.in_practice(practice_id), AuditAction.SIGN_OUT, detail="portal")
    return practice_id
