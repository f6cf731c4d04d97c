"""Server-side staff sessions (issue 5).

The browser's session cookie (signed by Flask) carries a random token; the database keeps its
SHA-256 with the staff member, the chosen practice, and three clocks: when it started, when the
person last did something, and when it ended. A session is alive while it has not ended, its
last activity is within the idle limit (default 15 minutes) and its start within the absolute
limit (default 8 hours). Automatic requests (a region polling itself) read the session without
counting as activity. Sign-out ends the row, so a copied cookie is dead from then on.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from models import StaffMembership, StaffSession, StaffUser

# Activity is written at most this often, so a page of clicks costs one UPDATE, not one each.
ACTIVITY_RESOLUTION = timedelta(seconds=30)


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_config(cls, config) -> SessionLimits:
        return cls(
            idle=timedelta(minutes=float(config.get("SESSION_IDLE_MINUTES", 15))),
            absolute=timedelta(hours=float(config.get("SESSION_MAX_HOURS", 8))),
        )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, staff_id: int, practice_id: int | None, via: str, now: datetime) -> str:
    """A new session; returns the token for the cookie. Commits."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=token_hash(token), staff_id=staff_id, practice_id=practice_id, via=via,
            created_at=now, last_seen_at=now,
        )
    )
    session.commit()
    return token


def expiry_reason(row: StaffSession, limits: SessionLimits, now: datetime) -> str | None:
    if row.ended_at is not None:
        return row.end_reason
    if now - row.created_at >= limits.absolute:
        return "too old"
    if now - row.last_seen_at >= limits.idle:
        return "idle"
    return None


@dataclass(frozen=True)
class LiveSession:
    row: StaffSession
    membership: StaffMembership | None  # None while a practice is still to be chosen


class SessionEnded(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def resume(session: Session, token: str | None, limits: SessionLimits, now: datetime, activity: bool) -> LiveSession:
    """The live session for this cookie token, its activity recorded unless `activity` is False.
    Raises SessionEnded (no such session, signed out, idle, too old, or no longer a member)."""
    if not token:
        raise SessionEnded("none")
    row = session.scalar(
        select(StaffSession)
        .join(StaffUser, StaffUser.id == StaffSession.staff_id)
        .where(StaffSession.token_hash == token_hash(token), StaffUser.is_active.is_(True))
    )
    if row is None:
        raise SessionEnded("unknown")
    reason = expiry_reason(row, limits, now)
    if reason:
        if row.ended_at is None:
            end(session, row.id, reason, now)
        raise SessionEnded(reason)
    if activity and now - row.last_seen_at >= ACTIVITY_RESOLUTION:
        session.execute(
            update(StaffSession).where(StaffSession.id == row.id).values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    membership = None
    if row.practice_id is not None:
        # After the commit above (which expires what was loaded), and with its staff member and
        # practice in the same query: no lazy load later in the request.
        membership = session.scalar(
            select(StaffMembership)
            .options(joinedload(StaffMembership.staff), joinedload(StaffMembership.practice))
            .where(StaffMembership.staff_id == row.staff_id, StaffMembership.practice_id == row.practice_id)
        )
        if membership is None:  # removed from the practice meanwhile
            end(session, row.id, "membership", now)
            raise SessionEnded("membership")
    return LiveSession(row=row, membership=membership)


def choose_practice(session: Session, session_id: int, staff_id: int, practice_id: int) -> bool:
    """Set the session's practice, if the staff member belongs to it. Commits."""
    member = session.scalar(
        select(StaffMembership.id).where(
            StaffMembership.staff_id == staff_id, StaffMembership.practice_id == practice_id
        )
    )
    if member is None:
        return False
    session.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(practice_id=practice_id)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return True


def end(session: Session, session_id: int, reason: str, now: datetime) -> None:
    """End the session for good (sign-out, expiry). Commits."""
    session.execute(
        update(StaffSession)
        .where(StaffSession.id == session_id, StaffSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def memberships(session: Session, staff_id: int) -> list[StaffMembership]:
    from models import Practice

    return list(
        session.scalars(
            select(StaffMembership)
            .join(Practice, Practice.id == StaffMembership.practice_id)
            .where(StaffMembership.staff_id == staff_id)
            .order_by(Practice.name)
        )
    )


def practice_count(session: Session, staff_id: int) -> int:
    from sqlalchemy import func

    return session.scalar(select(func.count()).where(StaffMembership.staff_id == staff_id)) or 0
