"""Embedded launch (README: The outside contract): the host portal opens `/launch?token=T` in its iframe.

T is `URLSafeTimedSerializer(LAUNCH_SECRET, salt="launch").dumps({"staff": USERNAME,
"practice": NAME, "jti": RANDOM})`, valid 60 seconds; each jti is accepted once (stored in
spent_launch_tokens, whose primary key refuses a second insert, on either database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Practice, SpentLaunchToken, StaffMembership, StaffUser

LAUNCH_SALT = "launch"
LAUNCH_MAX_AGE_SECONDS = 60
MIN_JTI_LENGTH = 16


class LaunchRefused(Exception):
    """`reason` is a kind, for the audit trail (never shown in full to the browser)."""

    def __init__(self, reason: str, staff_id: int | None = None, practice_id: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.staff_id = staff_id
        self.practice_id = practice_id


@dataclass(frozen=True)
class Launch:
    staff_id: int
    username: str
    practice_id: int


def accept(session: Session, secret: str | None, token: str | None, now: datetime) -> Launch:
    """Check the token and spend its jti, in the caller's transaction. Raises LaunchRefused."""
    if not secret:
        raise LaunchRefused("launch not configured")
    if not token:
        raise LaunchRefused("no token")
    serializer = URLSafeTimedSerializer(secret, salt=LAUNCH_SALT)
    try:
        claims = serializer.loads(token, max_age=LAUNCH_MAX_AGE_SECONDS)
    except SignatureExpired:
        raise LaunchRefused("expired token") from None
    except BadSignature:
        raise LaunchRefused("bad signature") from None
    if not isinstance(claims, dict):
        raise LaunchRefused("malformed token")
    username, practice_name, jti = claims.get("staff"), claims.get("practice"), claims.get("jti")
    if not all(isinstance(value, str) for value in (username, practice_name, jti)):
        raise LaunchRefused("malformed token")
    # PostgreSQL refuses a NUL byte in text: a signed token is not a reason to send one its way.
    if len(jti) < MIN_JTI_LENGTH or len(jti) > 200 or any("\x00" in value for value in (username, practice_name, jti)):
        raise LaunchRefused("malformed token")
    found = session.execute(
        select(StaffUser.id, Practice.id)
        .join(StaffMembership, StaffMembership.staff_id == StaffUser.id)
        .join(Practice, Practice.id == StaffMembership.practice_id)
        .where(StaffUser.username == username, Practice.name == practice_name, StaffUser.is_active.is_(True))
    ).first()
    if found is None:
        raise LaunchRefused("not a member")
    staff_id, practice_id = found
    # Spent jtis older than any valid token can go: a token that old is refused as expired.
    session.execute(
        delete(SpentLaunchToken).where(SpentLaunchToken.spent_at < now - timedelta(seconds=LAUNCH_MAX_AGE_SECONDS * 2))
    )
    session.add(SpentLaunchToken(jti=jti, spent_at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise LaunchRefused("replayed token", staff_id, practice_id) from None
    return Launch(staff_id=staff_id, username=username, practice_id=practice_id)
