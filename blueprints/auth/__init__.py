"""Staff identity: sign-in (standalone), launch from the host portal (embedded), choosing a
practice, sign-out, and the guard every staff view uses. Sessions live on the server
(services/staff_sessions.py); the cookie only carries the session's random token."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from blueprints.htmx import client_redirect, current_htmx
from blueprints.rendering import is_fragment_request
from extensions import db, launch_limit, signin_post_limit
from models import utcnow
from services import staff_sessions
from services.audit import record
from services.launch import LaunchRefused, accept
from services.staff import authenticate_staff, find_staff_by_username

bp = Blueprint("auth", __name__)

# The Flask session key of the staff session's token (the portal checks it to refuse a parent's
# sign-in on a desk computer where staff are signed in).
STAFF_SESSION_KEY = "staff_sid"


class SignInForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect guards every POST, this one included

    username = StringField("Username", validators=[DataRequired(message="Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])


def now():
    return current_app.config.get("CLOCK", utcnow)()


def client_ip() -> str | None:
    return request.remote_addr


def audit(action: str, outcome: str = "success", patient_id: int | None = None, detail: str | None = None,
          commit: bool = True) -> None:
    """One audit row for the signed-in staff member (or nobody yet), from this request."""
    staff = g.get("staff")
    practice = g.get("practice")
    # staff_required leaves plain values on g: reading them costs no query, where the ORM objects
    # may have been expired by a commit earlier in the request.
    record(
        db.session, action, outcome,
        practice_id=g.get("practice_id") or (practice.id if practice else None),
        staff_id=g.get("staff_id") or (staff.id if staff else None),
        staff_username=g.get("staff_username") or (staff.username if staff else None),
        patient_id=patient_id, detail=detail, client_ip=client_ip(), now=now(), commit=commit,
    )


def is_automatic() -> bool:
    """A region refreshing itself (an htmx fragment request carrying X-Automatic-Refresh). A full
    page never counts as automatic, whatever its headers (so it is always audited)."""
    return current_htmx().automatic_refresh


def _ended(reason: str):
    """The session is gone: to the Sign in page (htmx: a full page load; a self-refreshing
    region: 286, which stops its polling, and the page leaves with it, so no PHI stays shown)."""
    session.pop(STAFF_SESSION_KEY, None)
    ended = reason in ("idle", "too old")
    target = url_for("auth.sign_in", next=_local_path(request.full_path) if not is_automatic() else None,
                     ended="1" if ended else None)
    if is_fragment_request():
        return client_redirect(target)
    return redirect(target)


def _resume():
    """The live session of this request, cached on g; None when there is none."""
    if "staff_session" not in g:
        try:
            g.staff_session = staff_sessions.resume(
                db.session, session.get(STAFF_SESSION_KEY), staff_sessions.SessionLimits.from_config(current_app.config),
                now(), activity=not is_automatic(),
            )
        except staff_sessions.SessionEnded as ended:
            g.staff_session = None
            g.session_end_reason = ended.reason
    return g.staff_session


def staff_required(view):
    """Loads g.staff, g.practice and g.is_practice_admin from the live server-side session, or
    sends the person to sign in (or to choose a practice first)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        live = _resume()
        if live is None:
            return _ended(g.get("session_end_reason", "none"))
        if live.membership is None:
            if is_fragment_request():
                return client_redirect(url_for("auth.choose_practice"))
            return redirect(url_for("auth.choose_practice"))
        g.staff = live.membership.staff
        g.practice = live.membership.practice
        g.is_practice_admin = live.membership.is_admin
        g.staff_session_id = live.row.id
        g.staff_id, g.practice_id = live.row.staff_id, live.row.practice_id  # plain ints, for logs
        g.staff_username = live.membership.staff.username
        return view(*args, **kwargs)

    return wrapped


@bp.app_template_global()
def can_switch_practice() -> bool:
    """For the page header (full pages only, so fragments skip the query): more than one practice."""
    if "can_switch_practice" not in g:
        staff_id = g.get("staff_id")
        g.can_switch_practice = bool(staff_id) and staff_sessions.practice_count(db.session, staff_id) > 1
    return g.can_switch_practice


def admin_required(view):
    """staff_required, and then 403 unless the staff member is an admin of the signed-in practice."""

    @wraps(view)
    def admin_only(*args, **kwargs):
        if not g.is_practice_admin:
            abort(403)
        return view(*args, **kwargs)

    return staff_required(admin_only)


def _local_path(candidate: str | None) -> str | None:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not candidate:
        return None
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
        return None
    return candidate.rstrip("?") or None


def _start(staff_id: int, practice_id: int | None, via: str) -> None:
    """A fresh Flask session holding only the new server-side session's token. A session the
    browser had already is ended on the server first, so no copy of its cookie outlives it."""
    previous = _resume()
    if previous is not None:
        staff_sessions.end(db.session, previous.row.id, "replaced", now())
    token = staff_sessions.start(db.session, staff_id, practice_id, via, now())
    session.clear()
    session[STAFF_SESSION_KEY] = token


@bp.route("/signin", methods=["GET", "POST"])
@signin_post_limit
def sign_in():
    """The Sign in page (full page). Its POST is limited per client by SIGNIN_RATE_LIMIT."""
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        signed_in = authenticate_staff(db.session, form.username.data, form.password.data)
        choices = staff_sessions.memberships(db.session, signed_in.staff_id) if signed_in else []
        if choices:
            only = choices[0].practice_id if len(choices) == 1 else None
            _start(signed_in.staff_id, only, "signin")
            g.staff = choices[0].staff
            g.practice = choices[0].practice if only else None
            audit("sign-in", detail="password")
            if only is None:
                return redirect(url_for("auth.choose_practice", next=_local_path(request.args.get("next"))))
            return redirect(_local_path(request.args.get("next")) or url_for("patient_admin.search"))
        # The typed username is recorded only when it is a real login's (then by its id and name);
        # otherwise it could be anything (a patient's name, a password typed in the wrong box).
        known = find_staff_by_username(db.session, form.username.data or "")
        record(db.session, "sign-in", "failure", staff_id=known.id if known else None,
               staff_username=known.username if known else None, detail="password", client_ip=client_ip(), now=now())
        error = "The username or password is not right."
    status = 422 if request.method == "POST" else 200
    notice = "Your session ended. Sign in again." if request.args.get("ended") and request.method == "GET" else None
    return render_template("auth/sign_in.html", form=form, error=error, notice=notice), status


@bp.route("/practice/choose", methods=["GET", "POST"])
def choose_practice():
    """For a staff member of several practices: which one this session works in. Every query
    is then walled to it. Also the way to switch practice."""
    live = _resume()
    if live is None:
        return _ended(g.get("session_end_reason", "none"))
    choices = staff_sessions.memberships(db.session, live.row.staff_id)
    if request.method == "POST":
        chosen = request.form.get("practice_id", type=int)
        if chosen is None or not staff_sessions.choose_practice(db.session, live.row.id, live.row.staff_id, chosen):
            abort(404)
        record(db.session, "choose practice", practice_id=chosen, staff_id=live.row.staff_id,
               staff_username=live.row.staff.username, client_ip=client_ip(), now=now())
        return redirect(_local_path(request.args.get("next")) or url_for("patient_admin.search"))
    g.staff = live.row.staff
    g.practice = live.membership.practice if live.membership else None
    return render_template("auth/choose_practice.html", choices=choices, current=live.row.practice_id)


@bp.post("/signout")
def sign_out():
    """Ends the session on the server (a copied cookie is dead too) and returns to Sign in."""
    live = _resume()
    if live is not None:
        g.staff = live.row.staff
        g.practice = live.membership.practice if live.membership else None
        staff_sessions.end(db.session, live.row.id, "signed out", now())
        audit("sign-out")
    session.clear()
    return redirect(url_for("auth.sign_in"))


@bp.get("/launch")
@launch_limit
def launch():
    """Embedded launch from the host portal (CONTRACT section 4): a valid token starts a session
    in the named practice and lands on Patient Administration; anything else is a plain 403 and
    an audit row saying why (the page does not)."""
    try:
        launched = accept(db.session, current_app.config.get("LAUNCH_SECRET"), request.args.get("token"), now())
    except LaunchRefused as refused:
        record(db.session, "launch", "refused", practice_id=refused.practice_id, staff_id=refused.staff_id,
               detail=refused.reason, client_ip=client_ip(), now=now())
        # Any site can link here: a refused launch leaves whatever session the browser has alone.
        return render_template("auth/launch_refused.html"), 403
    _start(launched.staff_id, launched.practice_id, "launch")
    record(db.session, "launch", "success", practice_id=launched.practice_id, staff_id=launched.staff_id,
           staff_username=launched.username, client_ip=client_ip(), now=now())
    return redirect(url_for("patient_admin.search"))
