"""The parent-facing Patient Portal: register with a PIN, a verification-question link or the
front desk's token; sign in and out; see linked patients; add another child; My Chart."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from blueprints.auth import STAFF_SESSION_KEY
from blueprints.portal.forms import AddChildForm, PortalRegisterForm, PortalSignInForm
from extensions import db, portal_post_limit
from models import Patient, PortalLink, PortalUser, utcnow
from services.audit import record
from services.portal_accounts import authenticate_portal_user
from services.registration import SigningKeys
from services.redemption import (
    FAILURE_MESSAGE,
    AccountPasswordMismatch,
    AudienceMismatch,
    RedemptionFailed,
    Registrant,
    load_desk_credential,
    load_question,
    redeem_desk_token,
    redeem_pin,
    redeem_question,
)

bp = Blueprint("portal", __name__, url_prefix="/portal")

PORTAL_SESSION_KEY = "portal_user_id"
AUDIENCE_MESSAGE = (
    "This PIN is for a different kind of account: a PIN sent to a teenager (Minor) opens the "
    "teenager's own account, and a parent's PIN cannot join it. Use a new email address for it, "
    "or ask the practice for the right PIN."
)
EXISTING_ACCOUNT_MESSAGE = (
    "An account with this email exists already. Enter that account's password to add this patient "
    "to it, or sign in and choose Add another child."
)


def _now():
    """The current time; tests set CLOCK to check expiry at its edge."""
    return current_app.config.get("CLOCK", utcnow)()


def portal_user_required(view):
    """Loads g.portal_user from the session, or sends the person to the portal's sign-in."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        user_id = session.get(PORTAL_SESSION_KEY)
        user = db.session.get(PortalUser, user_id) if user_id else None
        if user is None:
            session.pop(PORTAL_SESSION_KEY, None)
            return redirect(url_for("portal.sign_in"))
        g.portal_user = user
        return view(*args, **kwargs)

    return wrapped


def _forget_secrets(form) -> None:
    """A page that comes back never shows a PIN or an answer again (nor a password)."""
    for name in ("pin", "answer"):
        if name in form:
            form[name].data = ""


def _sign_in_portal_user(user_id: int) -> None:
    # Only the portal's key: a staff session in the same browser is left alone.
    session[PORTAL_SESSION_KEY] = user_id


def _audit_redeem(action: str, mode: str, patient_id: int | None = None, practice_id: int | None = None) -> None:
    """A redemption in the audit trail: by a parent (no staff), with the patient when it worked.
    A failure names no patient (which one was meant is unknown, and guessing would leak)."""
    if patient_id is not None:
        practice_id = db.session.scalar(select(Patient.practice_id).where(Patient.id == patient_id))
    record(db.session, action, "success" if action == "redeem" else "failure", practice_id=practice_id,
           patient_id=patient_id, detail=f"by {mode}", client_ip=request.remote_addr, now=_now())


@bp.route("/register", methods=["GET", "POST"])
@portal_post_limit
def register():
    """Patient Portal registration page (full page). Three modes: PIN (default), a verification
    question link (?vq=), or the front desk's Complete / Log In token (?desk=)."""
    keys = SigningKeys.from_config(current_app.config)
    now = _now()
    vq_token = request.args.get("vq")
    desk_token = request.args.get("desk")
    mode = "desk" if desk_token else "question" if vq_token else "pin"
    question = None
    if mode == "question":
        credential = load_question(db.session, vq_token, keys, now)
        if credential is None:
            return render_template("portal/link_invalid.html"), 410
        question = credential.question
    elif mode == "desk" and load_desk_credential(db.session, desk_token, keys, now) is None:
        return render_template("portal/link_invalid.html", desk=True), 410

    form = PortalRegisterForm(mode)
    failure = None
    if form.validate_on_submit():
        registrant = Registrant(email=form.clean_email, password=form.password.data)
        try:
            if mode == "pin":
                redeemed = redeem_pin(
                    db.session, pin_entry=form.pin.data, date_of_birth=form.date_of_birth.data,
                    registrant=registrant, now=now, keys=keys,
                )
            elif mode == "question":
                redeemed = redeem_question(
                    db.session, credential_id=credential.id, answer=form.answer.data,
                    date_of_birth=form.date_of_birth.data, registrant=registrant, now=now, keys=keys,
                )
            else:
                redeemed = redeem_desk_token(db.session, token=desk_token, registrant=registrant, now=now, keys=keys)
        except RedemptionFailed:
            failure = FAILURE_MESSAGE
        except AccountPasswordMismatch:
            failure = EXISTING_ACCOUNT_MESSAGE
        except AudienceMismatch:
            failure = AUDIENCE_MESSAGE
        else:
            _audit_redeem("redeem", mode, redeemed.patient_id)
            if mode == "desk" or session.get(STAFF_SESSION_KEY):
                # A shared front-desk computer (the desk's token, or a browser where staff are
                # signed in): the account is ready, but the parent is not signed in here.
                return render_template("portal/registered_at_desk.html", first_name=redeemed.patient_first_name)
            _sign_in_portal_user(redeemed.portal_user_id)
            return redirect(url_for("portal.home"), code=303)
        if failure:
            _audit_redeem("failed redeem", mode, practice_id=credential.practice_id if mode == "question" else None)
    _forget_secrets(form)
    status = 422 if request.method == "POST" else 200
    return render_template("portal/register.html", form=form, mode=mode, question=question, failure=failure), status


@bp.route("/signin", methods=["GET", "POST"])
@portal_post_limit
def sign_in():
    """Patient Portal sign-in page (full page)."""
    form = PortalSignInForm()
    failure = None
    if form.validate_on_submit():
        user = authenticate_portal_user(
            db.session, form.email.data, form.password.data, SigningKeys.from_config(current_app.config).hash_method
        )
        if user is None:
            failure = "The email or password is not right."
        elif session.get(STAFF_SESSION_KEY):
            # Never mix a parent's portal session into a staff member's browser session.
            failure = "Staff are signed in on this browser. Sign in to the Patient Portal on your own device."
        else:
            _sign_in_portal_user(user.id)
            return redirect(url_for("portal.home"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("portal/sign_in.html", form=form, failure=failure), status


@bp.post("/signout")
def sign_out():
    """Ends the portal session and returns to the portal's sign-in page."""
    session.pop(PORTAL_SESSION_KEY, None)
    return redirect(url_for("portal.sign_in"), code=303)


def _links_of(user: PortalUser) -> list[PortalLink]:
    return list(
        db.session.scalars(
            select(PortalLink)
            .join(Patient, Patient.id == PortalLink.patient_id)
            .where(PortalLink.portal_user_id == user.id)
            .order_by(Patient.first_name_norm, Patient.id)
        )
    )


@bp.get("/")
@portal_user_required
def home():
    """The portal's home page: the account's patients by first name."""
    return render_template("portal/home.html", links=_links_of(g.portal_user))


@bp.route("/children/add", methods=["GET", "POST"])
@portal_user_required
@portal_post_limit
def add_child():
    """Add another child to the signed-in account with that child's PIN (full page)."""
    form = AddChildForm()
    failure = None
    if form.validate_on_submit():
        try:
            redeemed = redeem_pin(
                db.session, pin_entry=form.pin.data, date_of_birth=form.date_of_birth.data,
                registrant=Registrant(portal_user_id=g.portal_user.id), now=_now(),
                keys=SigningKeys.from_config(current_app.config), practice_id=g.portal_user.practice_id,
            )
        except RedemptionFailed:
            failure = FAILURE_MESSAGE
        except AudienceMismatch:
            failure = AUDIENCE_MESSAGE
        else:
            _audit_redeem("redeem", "add child", redeemed.patient_id)
            return redirect(url_for("portal.home"), code=303)
        _audit_redeem("failed redeem", "add child", practice_id=g.portal_user.practice_id)
    _forget_secrets(form)
    status = 422 if request.method == "POST" else 200
    return render_template("portal/add_child.html", form=form, failure=failure), status


@bp.get("/patients/<int:patient_id>/chart")
@portal_user_required
def chart(patient_id: int):
    """My Chart for one linked patient. Limited: No Chart Access links get 403 from the server,
    not merely a hidden link; a patient not linked to this account is 404."""
    link = db.session.scalar(
        select(PortalLink).where(PortalLink.portal_user_id == g.portal_user.id, PortalLink.patient_id == patient_id)
    )
    if link is None:
        abort(404)
    if link.access_level != "full":
        abort(403)
    return render_template("portal/chart.html", patient=link.patient)
