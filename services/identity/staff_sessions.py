"""Server-side staff sessions, and the actions that start and end them: sign-in, launch from the
host portal, choosing a practice, sign-out. Each action writes its session rows and its audit row
in one transaction.

The browser's session cookie (signed by Flask) carries a random token; the database keeps its
SHA-256 with the staff member, the chosen practice, and three clocks: when it started, when the
person last did something, and when it ended. A session is alive while it has not ended, its
last activity is within the idle limit (default 15 minutes) and its start within the absolute
limit (default 8 hours). Automatic requests (a region polling itself) read the session without
counting as activity. Sign-out ends the row, so a copied cookie is dead from then on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from models import Practice, StaffMembership, StaffSession, StaffUser
from models.vocabulary import AuditAction, AuditOutcome, ThrottleScope
from services import audit, throttle
from services.actor import Actor, unit_of_work
from services.identity.launch import LaunchRefused, accept
from services.identity.session_tokens import (
    ACTIVITY_RESOLUTION,
    SessionEnded,
    SessionLimits,
    expiry_reason,
    new_token,
    token_hash,
)
from services.identity.staff import authenticate_staff, find_staff_by_username

__all__ = ["SessionEnded", "SessionLimits", "expiry_reason", "token_hash"]  # as the staff screens know them


def _start(session: Session, staff_id: int, practice_id: int | None, via: str, now: datetime) -> str:
    """A new session, in the caller's transaction; returns the token for the cookie."""
    token, hashed = new_token()
    session.add(
        StaffSession(
            token_hash=hashed, staff_id=staff_id, practice_id=practice_id, via=via,
            created_at=now, last_seen_at=now,
        )
    )
    return token


@dataclass(frozen=True)
class LiveSession:
    row: StaffSession
    membership: StaffMembership | None  # None while a practice is still to be chosen


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


def choose_practice(session: Session, actor: Actor, session_id: int, practice_id: int) -> bool:
    """Set the session's practice, if the staff member belongs to it, and audit it there.
    False (nothing written) when they do not."""
    member = session.scalar(
        select(StaffMembership.id).where(
            StaffMembership.staff_id == actor.staff_id, StaffMembership.practice_id == practice_id
        )
    )
    if member is None:
        return False
    with unit_of_work(session):
        session.execute(
            update(StaffSession).where(StaffSession.id == session_id).values(practice_id=practice_id)
            .execution_options(synchronize_session=False)
        )
        audit.record(session, actor.in_practice(practice_id), AuditAction.CHOOSE_PRACTICE)
    return True


def _end(session: Session, session_id: int, reason: str, now: datetime) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.id == session_id, StaffSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    )


def end(session: Session, session_id: int, reason: str, now: datetime) -> None:
    """End the session for good when it expires or its member leaves. Commits."""
    with unit_of_work(session):
        _end(session, session_id, reason, now)


def memberships(session: Session, staff_id: int) -> list[StaffMembership]:
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


@dataclass(frozen=True)
class Started:
    """A new session: the token for the cookie, and its practice (None: one is to be chosen)."""

    token: str
    staff_id: int
    username: str
    practice_id: int | None


class SignInSlowed(Exception):
    """Too many sign-ins of this username failed lately: refused, password unchecked, for now."""

    def __init__(self, seconds: int):
        super().__init__(seconds)
        self.seconds = seconds


def _throttle_key(username: str, known_browser: str | None) -> str:
    """One delay per username however it is typed (case and surrounding spaces), shared by every
    browser that has not signed in as it before; a browser that has (`known_browser`, its id)
    counts on its own, so a stranger typing the username never slows the front desk's own PC."""
    name = username_key(username)
    return f"{name}\0browser {known_browser}" if known_browser else name


def username_key(username: str) -> str:
    """The username as delays and the known-browser cookie (blueprints/auth) name it."""
    return (username or "").strip().casefold()


def _each_practice_of(session: Session, actor: Actor, username: str) -> list[Actor]:
    """The actor as a failure of this username is audited: once in each practice of a known
    username, naming the login; once with no practice otherwise, naming nobody (what was typed
    could be anything: a patient's name, a password in the wrong box)."""
    known = find_staff_by_username(session, username or "")
    # The same queries either way: an unknown username must not answer sooner.
    practices = [membership.practice_id for membership in memberships(session, known.id if known else 0)]
    if known is None:
        return [replace(actor, practice_id=None, staff_id=None, staff_username=None)]
    who = replace(actor, staff_id=known.id, staff_username=known.username)
    return [who.in_practice(practice_id) for practice_id in practices] or [who.in_practice(None)]


def sign_in(session: Session, actor: Actor, username: str, password: str, replacing: int | None,
            hash_method: str, throttle_secret: bytes, known_browser: str | None = None) -> Started | None:
    """Staff sign-in with a password. On success a new session (ending the browser's previous
    one, `replacing`, so no copy of its cookie outlives it) in the only practice, or with the
    practice to choose, and the username's failures forgotten. None on failure, audited in each
    practice of the username when it is a known one, and counted against the username
    (services/throttle.py), known or not, so that neither the answers nor their timing tell
    which usernames exist. Every attempt counts, before the password is checked, until one
    succeeds; past a few the username waits a growing delay (at most a minute), during which
    SignInSlowed is raised without checking the password. Never a lock: a browser that has
    signed in as this username before (`known_browser`) has a count of its own, so nobody can
    shut the front desk out by typing its username elsewhere."""
    now, key = actor.now(), _throttle_key(username, known_browser)
    wait = throttle.attempt(session, throttle_secret, ThrottleScope.STAFF_USERNAME, key, now)
    if wait:
        with unit_of_work(session):
            for who in _each_practice_of(session, actor, username):
                audit.record(session, who, AuditAction.SIGN_IN, AuditOutcome.REFUSED, detail="slowed")
        raise SignInSlowed(wait)
    signed_in = authenticate_staff(session, username, password, hash_method)
    choices = memberships(session, signed_in.staff_id) if signed_in else []
    if not choices:
        with unit_of_work(session):
            for who in _each_practice_of(session, actor, username):
                audit.record(session, who, AuditAction.SIGN_IN, AuditOutcome.FAILURE, detail="password")
        return None
    staff = choices[0].staff
    only = choices[0].practice_id if len(choices) == 1 else None
    with unit_of_work(session):
        throttle.clear(session, throttle_secret, ThrottleScope.STAFF_USERNAME, key)
        return _begin(session, replace(actor, practice_id=only, staff_id=staff.id, staff_username=staff.username),
                      "signin", replacing, detail="password")


def launch(session: Session, actor: Actor, secret: str | None, token: str | None, replacing: int | None) -> Started:
    """Embedded launch: a valid token (its jti spent in the same transaction) starts a session in
    the named practice. Raises LaunchRefused, with the refusal audited and nothing else written."""
    try:
        with unit_of_work(session):
            launched = accept(session, secret, token, actor.now())
            who = replace(actor, practice_id=launched.practice_id, staff_id=launched.staff_id,
                          staff_username=launched.username)
            return _begin(session, who, "launch", replacing)
    except LaunchRefused as refused:
        who = replace(actor, practice_id=refused.practice_id, staff_id=refused.staff_id)
        audit.record_alone(session, who, AuditAction.LAUNCH, AuditOutcome.REFUSED, detail=refused.reason)
        raise


def _begin(session: Session, actor: Actor, via: str, replacing: int | None, detail: str | None = None) -> Started:
    if replacing is not None:
        _end(session, replacing, "replaced", actor.now())
    token = _start(session, actor.staff_id, actor.practice_id, via, actor.now())
    audit.record(session, actor, AuditAction.SIGN_IN if via == "signin" else AuditAction.LAUNCH, detail=detail)
    return Started(token=token, staff_id=actor.staff_id, username=actor.staff_username, practice_id=actor.practice_id)


def sign_out(session: Session, actor: Actor, session_id: int) -> None:
    """End the session on the server (a copied cookie is dead too), audited."""
    with unit_of_work(session):
        _end(session, session_id, "signed out", actor.now())
        audit.record(session, actor, AuditAction.SIGN_OUT)
