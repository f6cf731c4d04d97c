"""Staff sign-in and sign-out (standalone mode), and the guard every staff view uses."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from blueprints.rendering import is_fragment_request
from extensions import db, signin_post_limit
from services.staff import authenticate_staff, load_membership

bp = Blueprint("auth", __name__)


class SignInForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect guards every POST, this one included

    username = StringField("Username", validators=[DataRequired(message="Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])


def staff_required(view):
    """Loads g.staff, g.practice and g.is_practice_admin from the session, or sends the person
    to sign in."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        staff_id = session.get("staff_id")
        practice_id = session.get("practice_id")
        membership = load_membership(db.session, staff_id, practice_id) if staff_id and practice_id else None
        if membership is None:
            session.clear()
            target = url_for("auth.sign_in", next=_local_path(request.full_path))
            if is_fragment_request():
                # htmx follows HX-Redirect with a full page load, not a swap into a fragment.
                response = make_response("", 200)
                response.headers["HX-Redirect"] = target
                return response
            return redirect(target)
        g.staff = membership.staff
        g.practice = membership.practice
        g.is_practice_admin = membership.is_admin
        return view(*args, **kwargs)

    return wrapped


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


@bp.route("/signin", methods=["GET", "POST"])
@signin_post_limit
def sign_in():
    """The Sign in page (full page). Its POST is limited per client by SIGNIN_RATE_LIMIT."""
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        signed_in = authenticate_staff(db.session, form.username.data, form.password.data)
        if signed_in:
            session.clear()
            session["staff_id"] = signed_in.staff_id
            session["practice_id"] = signed_in.practice_id
            return redirect(_local_path(request.args.get("next")) or url_for("patient_admin.search"))
        error = "The username or password is not right."
    status = 422 if request.method == "POST" else 200
    return render_template("auth/sign_in.html", form=form, error=error), status


@bp.post("/signout")
def sign_out():
    """Ends the session and returns to the Sign in page."""
    session.clear()
    return redirect(url_for("auth.sign_in"))
