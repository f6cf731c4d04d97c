"""The parent-facing Patient Portal: register with a PIN, a verification-question link or the
front desk's token; sign in and out (a server-side session, services/identity/portal_sessions.py);
see linked patients; add another child; My Chart; a forgotten password's reset link; the
practice's Terms & Conditions.

Every page names its practice (_portal_practice). The forms post with htmx and get back only
their messages region, so a refused POST leaves what the person typed (a 12-character password
too) in the fields without the server ever sending a password back; without JavaScript they post
as plain forms and get the whole page again, password fields empty."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, session, url_for
from sqlalchemy import select

from blueprints.access import STAFF_SESSION_KEY, client_actor, clock
from blueprints.configured import default_portal_url, mailer, message_cipher, signing_keys
from blueprints.extensions import db, portal_post_limit
from blueprints.htmx import client_redirect, reselect, reswap, retarget
from blueprints.portal.forms import (
    AddChildForm,
    ForgotPasswordForm,
    PortalRegisterForm,
    PortalSignInForm,
    ResetPasswordForm,
)
from blueprints.rate_limits import describe_wait, form_page_answer
from blueprints.rendering import is_fragment_request
from models import Patient, PortalLink, PortalUser, Practice
from models.practice import DEFAULT_TERMS_TEXT
from models.vocabulary import PortalSessionEndReason
from services.credentials.redemption import (
    FAILURE_MESSAGE,
    AccountPasswordMismatch,
    AudienceMismatch,
    RedemptionFailed,
    RedemptionSlowed,
    Registrant,
    email_staff_entered,
    load_desk_credential,
    load_question,
    redeem_desk_token,
    redeem_pin,
    redeem_question,
)
from services.identity import password_resets, portal_accounts, portal_sessions
from services.practice.practice_settings import terms_paragraphs
from services.practice.slugs import practice_for_slug

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


def _portal_practice() -> Practice | None:
    """The practice this page is for: the one its token names (a desk or question link, which
    the view puts in `g.portal_practice`), else the signed-in account's, else the link's
    `?practice=SLUG` (a slug no practice has is ignored, as if absent). None: a neutral title."""
    if g.get("portal_practice") is not None:
        return g.portal_practice
    # A signed-in parent's own practice wins over a link's: ?practice= cannot rename it.
    if g.get("portal_user") is not None:
        return db.session.get(Practice, g.portal_user.practice_id)
    return practice_for_slug(db.session, request.args.get("practice"))


@bp.context_processor
def _practice_of_the_page() -> dict:
    """Every portal page shows the practice's name (templates/portal/_layout.html), and its links
    carry the slug on, so the next page names it too."""
    practice = _portal_practice()
    return {"practice_name": practice.name if practice else None, "practice_slug": practice.slug if practice else None}


def _field_errors(form) -> list[tuple[str, str, str]]:
    """(field id, label, messages) of each refused field, for the messages region to list."""
    return [(f.id, f.label.text, " ".join(f.errors)) for f in form if f.errors]


def _form_answer(template: str, form, retry_after: int | None = None, **context):
    """A portal form's page (GET) or its answer to a refused POST: 429 with Retry-After while
    slowed, 422 after any other refused POST. An htmx POST gets only the messages region
    (templates/portal/_messages.html, swapped into #portal-messages): the fields keep what was
    typed, and no password goes back. A plain POST gets the whole page, secrets emptied
    (a PasswordField never renders its value)."""
    if request.method == "POST" and is_fragment_request():
        body = render_template("portal/_messages.html", field_errors=_field_errors(form), **context)
    else:
        _forget_secrets(form)
        body = render_template(template, form=form, **context)
    response = make_response(form_page_answer(body, retry_after))
    response.vary.add("HX-Request")
    return response


def _go_to(url: str):
    """After a POST that worked: htmx loads the next page itself (HX-Redirect); a plain form follows a 303."""
    if is_fragment_request():
        return client_redirect(url)
    return redirect(url, code=303)


def _whole_page(body: str, status: int = 200):
    """A page that replaces the form's page (the account is ready; the link died meanwhile):
    htmx swaps its <main> for the current one."""
    response = make_response(body, status)
    if is_fragment_request():
        reselect(reswap(retarget(response, "#main"), "outerHTML"), "#main")
    response.vary.add("HX-Request")
    return response


def _registration_mode():
    """Which way this registration page redeems: `pin` (default), `question` (a ?vq= link)
    or `desk` (the front desk's ?desk= token), with the credential a link names. None: a dead link."""
    keys, now = signing_keys(), client_actor().now()
    if request.args.get("desk"):
        credential = load_desk_credential(db.session, request.args["desk"], keys, now)
        return ("desk", credential) if credential else None
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


def _registration_form(mode: str, credential) -> PortalRegisterForm:
    """The form for this mode. A link's credential names the page's practice, and the desk's
    page offers the email address staff sent the PIN to."""
    if credential is not None:
        g.portal_practice = db.session.get(Practice, credential.practice_id)
    form = PortalRegisterForm(mode)
    if mode == "desk" and not form.is_submitted():
        form.email.data = email_staff_entered(credential)
    return form


@bp.route("/register", methods=["GET", "POST"])
@portal_post_limit
def register():
    """Patient Portal registration page (full page). Three modes: PIN (default), a verification
    question link (?vq=), or the front desk's Complete / Log In token (?desk=); 410 for a dead link;
    429 with Retry-After while the date of birth typed is slowed. The practice's name comes from
    the token, or `?practice=SLUG`. A GET only reads: opening a message's link (a mail scanner
    does) spends nothing; only the form's POST redeems. static/js/portal_pin.js fills PIN from
    `#pin=`. The desk's page offers the email staff sent the PIN to (read from the credential)."""
    found = _registration_mode()
    if found is None:
        return _whole_page(render_template("portal/link_invalid.html", desk=bool(request.args.get("desk"))), 410)
    mode, credential = found
    form, failure, retry_after = _registration_form(mode, credential), None, None
    if form.validate_on_submit():
        try:
            redeemed = _redeem(mode, form, credential.id if mode == "question" else None)
        except RedemptionSlowed as slowed:
            failure, retry_after = _slowed(slowed.seconds), slowed.seconds
        except REDEMPTION_FAILURES:
            failure = FAILURE_MESSAGE
        else:
            if redeemed.session_token is None:  # at the desk: nobody was signed in (_redeem)
                return _whole_page(render_template("portal/registered_at_desk.html", first_name=redeemed.patient_first_name))
            _keep_portal_token(redeemed.session_token)
            return _go_to(url_for("portal.home"))
    question = credential.question if mode == "question" else None
    return _form_answer("portal/register.html", form, retry_after, mode=mode, question=question, failure=failure,
                        hint=FAILURE_HINT)


@bp.route("/signin", methods=["GET", "POST"])
@portal_post_limit
def sign_in():
    """Patient Portal sign-in page (full page; an htmx POST gets its messages region, as
    _form_answer says); `?practice=SLUG` shows the practice's name."""
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
                return _go_to(url_for("portal.home"))
            failure = "The email or password is not right."
    notice = None
    if request.method == "GET":
        # Fixed sentences chosen by a flag: nothing from the address is shown.
        if request.args.get("reset"):
            notice = "Your password is changed. Sign in with the new one."
        elif request.args.get("ended"):
            notice = "You were signed out after a while without activity. Sign in again."
        elif request.args.get("signed_out"):
            notice = "You have signed out."
    return _form_answer("portal/sign_in.html", form, failure=failure, notice=notice)


@bp.post("/signout")
def sign_out():
    """Ends the portal session on the server and returns to the portal's sign-in page, which
    says so and names the account's practice."""
    practice_id = portal_sessions.sign_out(db.session, client_actor(), session.pop(PORTAL_SESSION_KEY, None))
    practice = db.session.get(Practice, practice_id) if practice_id is not None else None
    return redirect(url_for("portal.sign_in", signed_out=1, practice=practice.slug if practice else None), code=303)


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
    """The reset link's page (full page; an htmx POST gets its messages region, as _form_answer
    says): a new password twice; 410 for a link that is unknown, expired, used or ended by
    another reset. Success goes to the sign-in page."""
    token = request.args.get("token")
    reset = password_resets.load_reset(db.session, token, clock()())
    if reset is None:
        return _whole_page(render_template("portal/reset_link_invalid.html"), 410)
    g.portal_practice = db.session.get(Practice, reset.portal_user.practice_id)
    form = ResetPasswordForm(reset.portal_user.email)
    failure = None
    if form.validate_on_submit():
        try:
            password_resets.reset_password(db.session, client_actor(), token, form.password.data, signing_keys().hash_method)
        except password_resets.ResetLinkInvalid:
            return _whole_page(render_template("portal/reset_link_invalid.html"), 410)
        except password_resets.PasswordRefused as refused:
            failure = str(refused)
        else:
            session.pop(PORTAL_SESSION_KEY, None)
            _drop_csrf_secret()
            return _go_to(url_for("portal.sign_in", reset="1", practice=g.portal_practice.slug))
    return _form_answer("portal/reset_password.html", form, failure=failure)


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
            return _go_to(url_for("portal.home"))
    return _form_answer("portal/add_child.html", form, retry_after, failure=failure, hint=ADD_CHILD_HINT)


@bp.get("/patients/<id:patient_id>/chart")
@portal_user_required
def chart(patient_id: int):
    """My Chart for one linked patient. Limited: No Chart Access links get 403 from the server,
    not merely a hidden link (a page that says what to do and leads back); a patient not linked
    to this account is 404."""
    link = db.session.scalar(
        select(PortalLink).where(PortalLink.portal_user_id == g.portal_user.id, PortalLink.patient_id == patient_id)
    )
    if link is None:
        abort(404)
    if link.access_level != "full":
        return render_template("portal/chart_limited.html", first_name=link.patient.first_name), 403
    return render_template("portal/chart.html", patient=link.patient)


@bp.get("/terms")
def terms():
    """The Terms & Conditions page (full page, no sign-in needed): the practice's own text
    (Practice Settings), or the built-in wording when the page names no practice. Plain text:
    paragraphs at blank lines, never HTML."""
    practice = _portal_practice()
    return render_template("portal/terms.html", paragraphs=terms_paragraphs(practice.terms_text if practice else DEFAULT_TERMS_TEXT))
