"""Staff identity screens: sign-in (standalone), launch from the host portal (embedded),
choosing a practice, sign-out. Sessions live on the server (services/identity/staff_sessions.py); the
cookie only carries the session's random token. The guard every staff view uses is in
blueprints/access.py."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from itsdangerous import BadData, URLSafeSerializer
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from blueprints.access import (
    STAFF_SESSION_KEY,
    client_actor,
    live_session,
    local_path,
    session_ended,
    staff_actor,
    use_context,
)
from blueprints.configured import signing_keys
from blueprints.extensions import db, launch_limit, signin_post_limit
from blueprints.input_bounds import parse_id
from blueprints.rate_limits import describe_wait, form_page_answer
from services.identity import staff_sessions
from services.identity.launch import LaunchRefused

bp = Blueprint("auth", __name__)

# A browser that has signed in as a username keeps a signed cookie saying so (an id of its own and
# keyed digests of up to 8 usernames), so that its sign-ins count their own delay
# (services/identity/staff_sessions.py): a stranger typing the username slows other browsers only.
KNOWN_BROWSER_COOKIE = "staff_browser"
KNOWN_BROWSER_DAYS = 400
KNOWN_BROWSER_USERNAMES = 8


class SignInForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect guards every POST, this one included

    username = StringField("Username", validators=[DataRequired(message="Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])


def _browser_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="staff-known-browser")


def _username_digest(username: str) -> str:
    key = staff_sessions.username_key(username).encode()
    return hmac.new(current_app.secret_key.encode(), key, hashlib.sha256).hexdigest()[:24]


def _known_browser() -> dict | None:
    try:
        known = _browser_serializer().loads(request.cookies.get(KNOWN_BROWSER_COOKIE, ""))
    except BadData:
        return None
    valid = isinstance(known, dict) and isinstance(known.get("b"), str) and isinstance(known.get("u"), list)
    return known if valid else None


def _known_browser_of(username: str) -> str | None:
    """This browser's id when it has signed in as `username` before, else None."""
    known = _known_browser()
    return known["b"] if known and _username_digest(username) in known["u"] else None


def _remember_browser(response, username: str):
    known = _known_browser() or {"b": secrets.token_urlsafe(16), "u": []}
    digest = _username_digest(username)
    usernames = [d for d in known["u"] if d != digest][-(KNOWN_BROWSER_USERNAMES - 1):] + [digest]
    config = current_app.config
    response.set_cookie(
        KNOWN_BROWSER_COOKIE, _browser_serializer().dumps({"b": known["b"], "u": usernames}),
        max_age=KNOWN_BROWSER_DAYS * 86400, httponly=True, secure=config["SESSION_COOKIE_SECURE"],
        samesite=config["SESSION_COOKIE_SAMESITE"], partitioned=config["SESSION_COOKIE_PARTITIONED"],
    )
    return response


def _replacing() -> int | None:
    """The browser's live session, which a new one ends (no copy of its cookie outlives it)."""
    live = live_session()
    return live.row.id if live else None


def _keep(started: staff_sessions.Started) -> None:
    """A fresh Flask session holding only the new server-side session's token."""
    session.clear()
    session[STAFF_SESSION_KEY] = started.token


@bp.route("/signin", methods=["GET", "POST"])
@signin_post_limit
def sign_in():
    """The Sign in page (full page). Its POST is limited per client by SIGNIN_RATE_LIMIT, and per
    username by a growing delay after repeated failures (429 with Retry-After while it lasts)."""
    form = SignInForm()
    error, retry_after = None, None
    if form.validate_on_submit():
        keys = signing_keys()
        try:
            started = staff_sessions.sign_in(db.session, client_actor(), form.username.data, form.password.data,
                                             _replacing(), keys.hash_method, keys.pin_lookup_key,
                                             known_browser=_known_browser_of(form.username.data))
        except staff_sessions.SignInSlowed as slowed:
            started, retry_after = None, slowed.seconds
        if retry_after:
            error = f"Too many failed sign-ins for this username. Try again in {describe_wait(retry_after)}."
        elif started is not None:
            _keep(started)
            next_path = local_path(request.args.get("next"))
            if started.practice_id is None:
                return _remember_browser(redirect(url_for("auth.choose_practice", next=next_path)), form.username.data)
            return _remember_browser(redirect(next_path or url_for("patient_admin.search")), form.username.data)
        else:
            error = "The username or password is not right."
    return form_page_answer(render_template("auth/sign_in.html", form=form, error=error, notice=_sign_in_notice()), retry_after)


def _sign_in_notice() -> str | None:
    """Why the Sign in page is shown, from a flag in its address: a fixed sentence, so nothing
    a link carries is ever shown."""
    if request.method != "GET":
        return None
    if request.args.get("ended"):
        return "Your session ended. Sign in again."
    if request.args.get("signed_out"):
        return "You have signed out."
    return None


@bp.route("/practice/choose", methods=["GET", "POST"])
def choose_practice():
    """For a staff member of several practices: which one this session works in. Every query
    is then walled to it. Also the way to switch practice."""
    live = live_session()
    if live is None:
        return session_ended()
    context = use_context(live)
    if request.method == "POST":
        chosen = parse_id(request.form.get("practice_id"))  # not one of ours (2**70, "-1"): 404
        if chosen is None or not staff_sessions.choose_practice(db.session, staff_actor(), live.row.id, chosen):
            abort(404)
        return redirect(local_path(request.args.get("next")) or url_for("patient_admin.search"))
    choices = staff_sessions.memberships(db.session, context.staff_id)
    return render_template("auth/choose_practice.html", choices=choices, current=context.practice_id)


@bp.post("/signout")
def sign_out():
    """Ends the session on the server (a copied cookie is dead too) and returns to Sign in, which
    says "You have signed out." (a flag in the address; a flash would go with the cleared session)."""
    live = live_session()
    if live is not None:
        use_context(live)
        staff_sessions.sign_out(db.session, staff_actor(), live.row.id)
    session.clear()
    return redirect(url_for("auth.sign_in", signed_out=1))


@bp.get("/launch")
@launch_limit
def launch():
    """Embedded launch from the host portal: a valid token starts a session in the named
    practice and lands on Patient Administration; anything else is a plain 403 (the audit row
    says why; the page does not)."""
    try:
        started = staff_sessions.launch(
            db.session, client_actor(), current_app.config.get("LAUNCH_SECRET"), request.args.get("token"), _replacing()
        )
    except LaunchRefused:
        # Any site can link here: a refused launch leaves whatever session the browser has alone.
        return render_template("auth/launch_refused.html"), 403
    _keep(started)
    return redirect(url_for("patient_admin.search"))
