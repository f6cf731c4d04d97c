"""The parent-facing Patient Portal: register with a PIN, a verification-question link or the
front desk's token; sign in and out (a server-side session, services/identity/portal_sessions.py);
see linked patients; add another child; My Chart; a forgotten password's reset link."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from blueprints.access import STAFF_SESSION_KEY, client_actor, clock
from blueprints.configured import default_portal_url, mailer, message_cipher, signing_keys
from blueprints.extensions import db, portal_post_limit
from blueprints.portal.forms import (
    AddChildForm,
    ForgotPasswordForm,
    PortalRegisterForm,
    PortalSignInForm,
    ResetPasswordForm,
)
from blueprints.rate_limits import describe_wait, form_page_answer
from models import Patient, PortalLink, PortalUser
from models.vocabulary import PortalSessionEndReason
from services.credentials.redemption import (
    FAILURE_MESSAGE,
    AccountPasswordMismatch,
    AudienceMismatch,
    RedemptionFailed,
    RedemptionSlowed,
    Registrant,
    load_desk_credential,
    load_question,
    redeem_desk_token,
    redeem_pin,
    redeem_question,
)
from services.identity import password_resets, portal_accounts, portal_sessions
from services.practice.slugs import practice_name_for_slug

bp = Blueprint("portal", __name__, url_prefix="/portal")

# The Flask session key of the portal session's token (the row is the session; the cookie only names it).
PORTAL_SESSION_KEY = "portal_sid"
# Every way a redemption can fail reads the same: a wrong PIN, a right PIN with the password of
# another account of this email (which must not confirm that the account exists), a PIN for the
# other kind of account. The hint covers the last two without saying which happened.
REDEMPTION_FAILURES = (RedemptionFailed, AccountPasswordMismatch, AudienceMismatch)
FAILURE_HINT = (
    "If you have an account with this email already, enter its password (or use Forgot password?). "
    "A PIN sent to a teenager opens only the teenager's own account."
)
ADD_CHILD_HINT = "A PIN sent to a teenager opens only the teenager's own account, not this one."


def _slowed(seconds: int) -> str:
    """What a parent reads while the date of birth typed waits out its delay (services/credentials/redemption.py)."""
    return f"Too many attempts. Try again in {describe_wait(seconds)}."


def portal_user_required(view):
    """Loads g.portal_user from the live server-side session, or sends the person to the
    portal's sign-in (signed out, reset, idle or too old: a copied cookie fares the same)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        try:
            user = portal_sessions.resume(
                db.session, session.get(PORTAL_SESSION_KEY),
                portal_sessions.SessionLimits.portal_from_config(current_app.config), clock()(),
            )
        except portal_sessions.SessionEnded as ended:
            session.pop(PORTAL_SESSION_KEY, None)
            timed_out = ended.reason in (PortalSessionEndReason.IDLE, PortalSessionEndReason.TOO_OLD)
            return redirect(url_for("portal.sign_in", ended="1" if timed_out else None))
        g.portal_user = user
        return view(*args, **kwargs)

    return wrapped


def _forget_secrets(form) -> None:
    """A page that comes back never shows a PIN or an answer again (nor a password)."""
    for name in ("pin", "answer"):
        if name in form:
            form[name].data = ""


def _drop_csrf_secret() -> None:
    """A token read before a portal session starts (or its password changes) must not sign
    that session's forms: the next page gets a new one. Flask-WTF keeps the secret in the
    session, and the token made from it in `g`, both under WTF_CSRF_FIELD_NAME."""
    field = current_app.config["WTF_CSRF_FIELD_NAME"]
    session.pop(field, None)
    g.pop(field, None)


def _keep_portal_token(token: str) -> None:
    # Only the portal's keys: a staff session in the same browser is left alone (its pages
    # need reloading for a new CSRF token, which the shared secret makes unavoidable).
    _drop_csrf_secret()
    session[PORTAL_SESSION_KEY] = token


def _practice_named_by_link() -> dict:
    """The practice a message's link names (`?practice=SLUG`), for the page to show, and the slug
    to carry on to the portal's other pages; a slug no practice has is ignored, as if absent."""
    slug = request.args.get("practice")
    name = practice_name_for_slug(db.session, slug)
    return {"practice_name": name, "practice_slug": slug if name else None}


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
    # A shared front-desk computer (the desk's token, or a browser where staff are signed in)
    # gets the account ready but signs nobody in.
    at_desk = mode == "desk" or bool(session.get(STAFF_SESSION_KEY))
    registrant = Registrant(email=form.clean_email, password=form.password.data,
                            signs_in_replacing=None if at_desk else session.get(PORTAL_SESSION_KEY, ""))
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
    question link (?vq=), or the front desk's Complete / Log In token (?desk=); 410 for a dead link;
    429 with Retry-After while the date of birth typed is slowed. `?practice=SLUG` shows the
    practice's name. A GET only reads: opening a message's link (a mail scanner does) spends
    nothing; only the form's POST redeems. static/js/portal_pin.js fills PIN from `#pin=`."""
    found = _registration_mode()
    if found is None:
        return render_template("portal/link_invalid.html", desk=bool(request.args.get("desk"))), 410
    mode, credential = found
    form, failure, retry_after = PortalRegisterForm(mode), None, None
    if form.validate_on_submit():
        try:
            redeemed = _redeem(mode, form, credential.id if credential else None)
        except RedemptionSlowed as slowed:
            failure, retry_after = _slowed(slowed.seconds), slowed.seconds
        except REDEMPTION_FAILURES:
            failure = FAILURE_MESSAGE
        else:
            if redeemed.session_token is None:  # at the desk: nobody was signed in (_redeem)
                return render_template("portal/registered_at_desk.html", first_name=redeemed.patient_first_name)
            _keep_portal_token(redeemed.session_token)
            return redirect(url_for("portal.home"), code=303)
    _forget_secrets(form)
    question = credential.question if credential else None
    page = render_template("portal/register.html", form=form, mode=mode, question=question, failure=failure,
                           hint=FAILURE_HINT, **_practice_named_by_link())
    return form_page_answer(page, retry_after)


@bp.route("/signin", methods=["GET", "POST"])
@portal_post_limit
def sign_in():
    """Patient Portal sign-in page (full page); `?practice=SLUG` shows the practice's name."""
    form = PortalSignInForm()
    failure = None
    if form.validate_on_submit():
        try:
            token = portal_accounts.sign_in(
                db.session, client_actor(), form.email.data, form.password.data, signing_keys().hash_method,
                staff_browser=bool(session.get(STAFF_SESSION_KEY)), replacing=session.get(PORTAL_SESSION_KEY),
            )
        except portal_accounts.StaffBrowser:
            failure = "Staff are signed in on this browser. Sign in to the Patient Portal on your own device."
        else:
            if token is not None:
                _keep_portal_token(token)
                return redirect(url_for("portal.home"), code=303)
            failure = "The email or password is not right."
    status = 422 if request.method == "POST" else 200
    notice = None
    if request.args.get("reset"):
        notice = "Your password is changed. Sign in with the new one."
    elif request.args.get("ended"):
        notice = "You were signed out after a while without activity. Sign in again."
    return render_template("portal/sign_in.html", form=form, failure=failure, notice=notice,
                           **_practice_named_by_link()), status


@bp.post("/signout")
def sign_out():
    """Ends the portal session on the server and returns to the portal's sign-in page."""
    portal_sessions.sign_out(db.session, client_actor(), session.pop(PORTAL_SESSION_KEY, None))
    return redirect(url_for("portal.sign_in"), code=303)


def _reset_link_base() -> str:
    """Where reset links point: PORTAL_URL's origin (configuration), never the request's Host
    header, which a stranger sets: a forged one would mail a parent a link, token and all, to
    the stranger's server."""
    portal = urlsplit(default_portal_url())
    return urlunsplit((portal.scheme, portal.netloc, url_for("portal.reset_password"), "", ""))


@bp.route("/forgot-password", methods=["GET", "POST"])
@portal_post_limit
def forgot_password():
    """Forgot password? page (full page); once sent, the same page for every email, whether
    or not it has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        password_resets.request_reset(db.session, client_actor(), form.clean_email, _reset_link_base(), message_cipher())
        if current_app.config["DEV_OUTBOX"]:
            # The embedded development default has no worker running (make run): deliver to the
            # local outbox page now. Elsewhere only `outbox send` sends (services/identity/password_resets.py).
            password_resets.send_due_resets(db.session, mailer(), message_cipher(), clock()())
        return render_template("portal/forgot_password_sent.html")
    status = 422 if request.method == "POST" else 200
    return render_template("portal/forgot_password.html", form=form), status


@bp.route("/reset-password", methods=["GET", "POST"])
@portal_post_limit
def reset_password():
    """The reset link's page (full page): a new password twice; 410 for a link that is unknown,
    expired, used or ended by another reset. Success goes to the sign-in page."""
    token = request.args.get("token")
    reset = password_resets.load_reset(db.session, token, clock()())
    if reset is None:
        return render_template("portal/reset_link_invalid.html"), 410
    form = ResetPasswordForm(reset.portal_user.email)
    failure = None
    if form.validate_on_submit():
        try:
            password_resets.reset_password(db.session, client_actor(), token, form.password.data, signing_keys().hash_method)
        except password_resets.ResetLinkInvalid:
            return render_template("portal/reset_link_invalid.html"), 410
        except password_resets.PasswordRefused as refused:
            failure = str(refused)
        else:
            session.pop(PORTAL_SESSION_KEY, None)
            _drop_csrf_secret()
            return redirect(url_for("portal.sign_in", reset="1"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("portal/reset_password.html", form=form, failure=failure, **_practice_named_by_link()), status


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
    failure, retry_after = None, None
    if form.validate_on_submit():
        try:
            redeem_pin(
                db.session, client_actor().in_practice(g.portal_user.practice_id), pin_entry=form.pin.data,
                date_of_birth=form.date_of_birth.data, registrant=Registrant(portal_user_id=g.portal_user.id),
                keys=signing_keys(), via="add child",
            )
        except RedemptionSlowed as slowed:
            failure, retry_after = _slowed(slowed.seconds), slowed.seconds
        except REDEMPTION_FAILURES:
            failure = FAILURE_MESSAGE
        else:
            return redirect(url_for("portal.home"), code=303)
    _forget_secrets(form)
    page = render_template("portal/add_child.html", form=form, failure=failure, hint=ADD_CHILD_HINT)
    return form_page_answer(page, retry_after)


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
