"""Who is asking, for every staff screen, in one place: the server-side session behind the
cookie, the practice it works in (one frozen StaffContext on `g`), the one clock, the staff and
admin guards, the patient loader, and the Actor that service calls take."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import select

from blueprints.extensions import db
from blueprints.htmx import client_redirect, current_htmx
from blueprints.rendering import is_fragment_request
from models import Patient, Practice, utcnow
from services.actor import Actor
from services.identity import staff_sessions

# The Flask session key of the staff session's token (the portal checks it to refuse a parent's
# sign-in on a desk computer where staff are signed in).
STAFF_SESSION_KEY = "staff_sid"


@dataclass(frozen=True)
class StaffContext:
    """The signed-in staff member and the practice every query of the request is walled to
    (practice_id None only on the page that chooses one). Plain values: reading them costs no
    query, where ORM objects would be expired by the request's first commit."""

    session_id: int
    staff_id: int
    username: str
    practice_id: int | None
    practice_name: str | None
    timezone: str | None
    is_admin: bool


def clock() -> Callable[[], datetime]:
    """The one clock of the app: tests set CLOCK to stand at the edge of an expiry."""
    return current_app.config.get("CLOCK") or utcnow


def client_actor() -> Actor:
    """Someone not signed in as staff (a parent, or staff before sign-in), from this client."""
    return Actor(practice_id=None, client_ip=request.remote_addr, clock=clock())


def staff_actor() -> Actor:
    """The signed-in staff member, in their practice, from this client."""
    context: StaffContext = g.staff_context
    return Actor(
        practice_id=context.practice_id, staff_id=context.staff_id, staff_username=context.username,
        client_ip=request.remote_addr, clock=clock(),
    )


def is_automatic() -> bool:
    """A region refreshing itself (reading, not activity). A full page never counts as
    automatic, whatever its headers (so it is always audited)."""
    return current_htmx().automatic_refresh


def live_session() -> staff_sessions.LiveSession | None:
    """The live session of this request (resumed once, then cached); None when there is none."""
    if "_live_session" not in g:
        try:
            g._live_session = staff_sessions.resume(
                db.session, session.get(STAFF_SESSION_KEY), staff_sessions.SessionLimits.from_config(current_app.config),
                clock()(), activity=not is_automatic(),
            )
        except staff_sessions.SessionEnded as ended:
            g._live_session = None
            g._session_end_reason = ended.reason
    return g._live_session


def use_context(live: staff_sessions.LiveSession) -> StaffContext:
    """Put the session's StaffContext on `g` for the views and templates."""
    membership = live.membership
    g.staff_context = StaffContext(
        session_id=live.row.id,
        staff_id=live.row.staff_id,
        username=live.row.staff.username,
        practice_id=membership.practice_id if membership else None,
        practice_name=membership.practice.name if membership else None,
        timezone=membership.practice.timezone if membership else None,
        is_admin=bool(membership and membership.is_admin),
    )
    return g.staff_context


def local_path(candidate: str | None) -> str | None:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not candidate:
        return None
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
        return None
    return candidate.rstrip("?") or None


def _leave_for(target: str):
    """A full page goes to `target`; htmx loads it as a full page; a self-refreshing region gets
    286, which stops its polling, and the page leaves with it, so no PHI stays shown."""
    if is_fragment_request():
        return client_redirect(target)
    return redirect(target)


def session_ended():
    """The session is gone: to the Sign in page, saying so when it timed out."""
    session.pop(STAFF_SESSION_KEY, None)
    reason = g.get("_session_end_reason", "none")
    return _leave_for(url_for(
        "auth.sign_in", next=local_path(request.full_path) if not is_automatic() else None,
        ended="1" if reason in ("idle", "too old") else None,
    ))


def staff_required(view):
    """Puts the StaffContext on `g` from the live server-side session, or sends the person to
    sign in (or to choose a practice first)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        live = live_session()
        if live is None:
            return session_ended()
        if live.membership is None:
            return _leave_for(url_for("auth.choose_practice"))
        use_context(live)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """staff_required, and then 403 unless the staff member is an admin of the signed-in practice."""

    @wraps(view)
    def admin_only(*args, **kwargs):
        if not g.staff_context.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return staff_required(admin_only)


def load_patient_or_404(patient_id: int) -> Patient:
    """The patient, if it belongs to the signed-in practice; 404 otherwise (never 403, which
    would confirm that the id exists elsewhere)."""
    patient = db.session.scalar(
        select(Patient).where(Patient.id == patient_id, Patient.practice_id == g.staff_context.practice_id)
    )
    if patient is None:
        abort(404)
    return patient


def current_practice() -> Practice:
    """The signed-in practice's row (from the session's identity map when already loaded)."""
    return db.session.get(Practice, g.staff_context.practice_id)


def can_switch_practice() -> bool:
    """For the page header (full pages only, so fragments skip the query): more than one practice."""
    if "_can_switch_practice" not in g:
        context = g.get("staff_context")
        g._can_switch_practice = bool(context) and staff_sessions.practice_count(db.session, context.staff_id) > 1
    return g._can_switch_practice
