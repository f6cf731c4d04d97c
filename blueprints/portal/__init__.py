"""The parent-facing Patient Portal: register with a PIN, a verification-question link or the
front desk's token; sign in and out; see linked patients; add another child; My Chart."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from blueprints.access import STAFF_SESSION_KEY, client_actor
from blueprints.configured import signing_keys
from blueprints.extensions import db, portal_post_limit
from blueprints.portal.forms import AddChildForm, PortalRegisterForm, PortalSignInForm
from models import Patient, PortalLink, PortalUser
from services.credentials.redemption import (
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
from services.identity import portal_accounts

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
# What the parent reads for each way a redemption can fail (every wrong PIN reads the same).
FAILURES = {
    RedemptionFailed: FAILURE_MESSAGE,
    AccountPasswordMismatch: EXISTING_ACCOUNT_MESSAGE,
    AudienceMismatch: AUDIENCE_MESSAGE,
}


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


def _registration_mode():
    """Which way this registration page redeems: `pin` (default), `question` (a ?vq= link,
    with its credential) or `desk` (the front desk's ?desk= token). None: a dead link."""
    keys, now = signing_keys(), client_actor().now()
    if request.args.get("desk"):
        return ("desk", None) if load_desk_credential(db.session, request.args["desk"], keys, now) else None
    if request.args.get("vq"):
        credential = load_question(db.session, request.args["vq"], keys, now)
        return ("question", credential) if credential else None
    return "pin", None


def _redeem(mode: str, form: PortalRegisterForm, question_id: int | None):
    """One redemption through the service for this mode (each audits itself)."""
    registrant = Registrant(email=form.clean_email, password=form.password.data)
    actor, keys = client_actor(), signing_keys()
    if mode == "pin":
        return redeem_pin(db.session, actor, pin_entry=form.pin.data, date_of_birth=form.date_of_birth.data,
                          registrant=registrant, keys=keys)
    if mode == "question":
        return redeem_question(db.session, actor, credential_id=question_id, answer=form.answer.data,
                               date_of_birth=form.date_of_birth.data, registrant=registrant, keys=keys)
    return redeem_desk_token(db.session, actor, token=request.args["desk"], registrant=registrant, keys=keys)


@bp.route("/register", methods=["GET", "POST"])
@portal_post_limit
def register():
    """Patient Portal registration page (full page). Three modes: PIN (default), a verification
    question link (?vq=), or the front desk's Complete / Log In token (?desk=); 410 for a dead link."""
    found = _registration_mode()
    if found is None:
        return render_template("portal/link_invalid.html", desk=bool(request.args.get("desk"))), 410
    mode, credential = found
    form, failure = PortalRegisterForm(mode), None
    if form.validate_on_submit():
        try:
            redeemed = _redeem(mode, form, credential.id if credential else None)
        except tuple(FAILURES) as failed:
            failure = FAILURES[type(failed)]
        else:
            if mode == "desk" or session.get(STAFF_SESSION_KEY):
                # A shared front-desk computer (the desk's token, or a browser where staff are
                # signed in): the account is ready, but the parent is not signed in here.
                return render_template("portal/registered_at_desk.html", first_name=redeemed.patient_first_name)
            _sign_in_portal_user(redeemed.portal_user_id)
            return redirect(url_for("portal.home"), code=303)
    _forget_secrets(form)
    question = credential.question if credential else None
    return render_template("portal/register.html", form=form, mode=mode, question=question,
                           failure=failure), 422 if request.method == "POST" else 200


@bp.route("/signin", methods=["GET", "POST"])
@portal_post_limit
def sign_in():
    """Patient Portal sign-in page (full page)."""
    form = PortalSignInForm()
    failure = None
    if form.validate_on_submit():
        try:
            user = portal_accounts.sign_in(db.session, client_actor(), form.email.data, form.password.data,
                                           signing_keys().hash_method, staff_browser=bool(session.get(STAFF_SESSION_KEY)))
        except portal_accounts.StaffBrowser:
            failure = "Staff are signed in on this browser. Sign in to the Patient Portal on your own device."
        else:
            if user is not None:
                _sign_in_portal_user(user.id)
                return redirect(url_for("portal.home"), code=303)
            failure = "The email or password is not right."
    status = 422 if request.method == "POST" else 200
    return render_template("portal/sign_in.html", form=form, failure=failure), status


@bp.post("/signout")
def sign_out():
    """Ends the portal session and returns to the portal's sign-in page."""
    portal_accounts.sign_out(db.session, client_actor(), session.pop(PORTAL_SESSION_KEY, None))
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
            redeem_pin(
                db.session, client_actor().in_practice(g.portal_user.practice_id), pin_entry=form.pin.data,
                date_of_birth=form.date_of_birth.data, registrant=Registrant(portal_user_id=g.portal_user.id),
                keys=signing_keys(), via="add child",
            )
        except (RedemptionFailed, AudienceMismatch) as failed:
            failure = FAILURES[type(failed)]
        else:
            return redirect(url_for("portal.home"), code=303)
    _forget_secrets(form)
    status = 422 if request.method == "POST" else 200
    return render_template("portal/add_child.html", form=form, failure=failure), status


@bp.get("/patients/<id:patient_id>/chart")
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
