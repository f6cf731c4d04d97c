"""Practices and staff accounts: creation (CLI, demo data) and sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import Practice, StaffMembership, StaffUser
from models.header_values import breaks_a_header
from models.practice import USERNAME_CHARACTERS, USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH
from models.vocabulary import AuditAction
from services import audit
from services.actor import Actor, unit_of_work
from services.identity.portal_accounts import MIN_PORTAL_PASSWORD_LENGTH, password_problem
from services.practice.slugs import unused_slug

# Staff passwords follow the portal's rules (at least 12 characters, not a common one).
MIN_STAFF_PASSWORD_LENGTH = MIN_PORTAL_PASSWORD_LENGTH
USERNAME_RULE = (
    f"A username has {USERNAME_MIN_LENGTH} to {USERNAME_MAX_LENGTH} characters: letters A-Z or a-z, digits, "
    "and . _ - @ (no spaces or other characters)."
)
# werkzeug's default; the app's HASH_METHOD setting may name another (tests use a cheap scrypt).
PASSWORD_HASH_METHOD = "scrypt"


@cache
def _dummy_hash(method: str) -> str:
    """Checked when the username is unknown, so both failures cost the same time. Made on first
    use, once per process and method, so importing this module costs no KDF."""
    return generate_password_hash("not-a-real-password", method=method)


class StaffError(ValueError):
    """A refusal to show as it is; `field` names the form field it belongs beside."""

    def __init__(self, message: str, field: str = "username"):
        super().__init__(message)
        self.field = field


def username_problem(username: str) -> str | None:
    """Why a new staff username is refused, or None (models/practice.py: USERNAME_CHARACTERS)."""
    if not USERNAME_MIN_LENGTH <= len(username) <= USERNAME_MAX_LENGTH or set(username) - set(USERNAME_CHARACTERS):
        return USERNAME_RULE
    return None


def staff_password_problem(password: str, username: str) -> str | None:
    """Why a staff password is refused, or None: the portal's rules, and not the username with
    something added."""
    problem = password_problem(password)
    if problem:
        return problem
    if len(username) >= 4 and password.lower().startswith(username.lower()):
        return "Do not build the password from the username."
    return None


def _check_password(password: str, username: str) -> None:
    problem = staff_password_problem(password, username)
    if problem:
        raise StaffError(problem, field="password")


@dataclass(frozen=True)
class SignedInStaff:
    staff_id: int
    practice_id: int


def find_practice_by_name(session: Session, name: str) -> Practice | None:
    return session.scalar(select(Practice).where(Practice.name == name.strip()))


def find_staff_by_username(session: Session, username: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.username == username.strip()))


def create_practice(session: Session, name: str, portal_url: str | None, timezone: str) -> Practice:
    name = name.strip()
    if not name:
        raise StaffError("A practice needs a name.")
    if breaks_a_header(name):  # it stands in every email's subject
        raise StaffError("A practice name cannot contain control characters such as line breaks.")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StaffError(f"Unknown time zone {timezone!r}; use an IANA name such as America/New_York.") from None
    if find_practice_by_name(session, name):
        raise StaffError(f"A practice named {name!r} exists already.")
    practice = Practice(name=name, slug=unused_slug(session, name), portal_url=portal_url or None, timezone=timezone)
    session.add(practice)
    session.flush()
    return practice


def create_practice_from_command_line(session: Session, actor: Actor, name: str, portal_url: str | None,
                                     timezone: str) -> Practice:
    """`practice create`: the practice, with the first row of its own audit trail."""
    with unit_of_work(session):
        practice = create_practice(session, name, portal_url, timezone)
        audit.record(session, actor.in_practice(practice.id), AuditAction.SETTINGS_CHANGE, detail="practice created")
    return practice


def create_staff(
    session: Session, username: str, password: str, practice: Practice, is_admin: bool,
    hash_method: str = PASSWORD_HASH_METHOD,
) -> StaffUser:
    """Create the staff user, or add a membership in `practice` to an existing one."""
    username = username.strip()
    if not username:
        raise StaffError("A username is required.")
    staff = find_staff_by_username(session, username)
    if staff is None:
        # Only a new login: one made before the rule keeps its name (and can join a practice).
        problem = username_problem(username)
        if problem:
            raise StaffError(problem)
        _check_password(password, username)
        staff = StaffUser(username=username, password_hash=generate_password_hash(password, method=hash_method), is_active=True)
        session.add(staff)
        session.flush()
    elif password:
        _check_password(password, username)
        staff.password_hash = generate_password_hash(password, method=hash_method)
    membership = session.scalar(
        select(StaffMembership).where(
            StaffMembership.staff_id == staff.id, StaffMembership.practice_id == practice.id
        )
    )
    if membership is None:
        session.add(StaffMembership(staff_id=staff.id, practice_id=practice.id, is_admin=is_admin))
    else:
        membership.is_admin = is_admin
    session.flush()
    return staff


def authenticate_staff(
    session: Session, username: str, password: str, hash_method: str = PASSWORD_HASH_METHOD
) -> SignedInStaff | None:
    """The staff member and their first practice, or None. Same cost for every failure."""
    staff = find_staff_by_username(session, username)
    if staff is None or not staff.is_active:
        check_password_hash(_dummy_hash(hash_method), password)
        return None
    if not check_password_hash(staff.password_hash, password):
        return None
    membership = session.scalar(
        select(StaffMembership)
        .join(Practice, Practice.id == StaffMembership.practice_id)
        .where(StaffMembership.staff_id == staff.id)
        .order_by(Practice.name)
    )
    if membership is None:
        return None
    return SignedInStaff(staff_id=staff.id, practice_id=membership.practice_id)


def practice_staff(session: Session, practice_id: int) -> list[StaffMembership]:
    return list(
        session.scalars(
            select(StaffMembership)
            .join(StaffUser, StaffUser.id == StaffMembership.staff_id)
            .where(StaffMembership.practice_id == practice_id)
            .order_by(StaffUser.username)
        )
    )


def add_new_staff(
    session: Session, actor: Actor, username: str, password: str, is_admin: bool,
    hash_method: str = PASSWORD_HASH_METHOD,
) -> StaffUser:
    """A practice admin adds a new login to their practice, audited with it. An existing username
    is refused: the page must never reset the password of someone who may work elsewhere (the
    CLI can add an existing login to a practice)."""
    if find_staff_by_username(session, username):
        raise StaffError("That username is taken. Choose another.")
    try:
        with unit_of_work(session):
            practice = session.get(Practice, actor.practice_id)
            staff = create_staff(session, username, password, practice, is_admin, hash_method)
            _audit_added(session, actor, staff, is_admin)
    except IntegrityError:  # the same username added at the same moment elsewhere
        raise StaffError("That username is taken. Choose another.") from None
    return staff


def add_staff_from_command_line(
    session: Session, actor: Actor, username: str, password: str, is_admin: bool,
    hash_method: str = PASSWORD_HASH_METHOD,
) -> StaffUser:
    """`staff create`: a new login, or an existing one added to the actor's practice (a password
    given resets it), audited in that practice."""
    with unit_of_work(session):
        practice = session.get(Practice, actor.practice_id)
        staff = create_staff(session, username, password, practice, is_admin, hash_method)
        _audit_added(session, actor, staff, is_admin)
    return staff


def _audit_added(session: Session, actor: Actor, staff: StaffUser, is_admin: bool) -> None:
    audit.record(session, actor, AuditAction.SETTINGS_CHANGE,
                 detail=f"staff {staff.id} ({staff.username}) added" + (" as admin" if is_admin else ""))


def remove_from_practice(session: Session, actor: Actor, staff_id: int) -> bool:
    """End a staff member's membership of the actor's practice (their sessions in it end at their
    next request), audited with it. False when they are not a member."""
    membership = session.scalar(
        select(StaffMembership).where(StaffMembership.practice_id == actor.practice_id, StaffMembership.staff_id == staff_id)
    )
    if membership is None:
        return False
    with unit_of_work(session):
        session.delete(membership)
        audit.record(session, actor, AuditAction.SETTINGS_CHANGE, detail=f"staff {staff_id} removed")
    return True
