"""Patient Administration: search patients and portal users, the Patient Account page (with
Revoke PIN), and Update Basic Info."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from blueprints.access import clock, is_automatic, load_patient_or_404, staff_actor, staff_required
from blueprints.account_page import (
    Notice,
    RevokeForm,
    account_context,
    changes_the_account,
    given_name_refusal,
    render_summary,
    revoke_prefix,
)
from blueprints.extensions import db
from blueprints.patient_admin.cli import COMMANDS
from blueprints.rendering import is_fragment_request, render_fragment_or_page
from models.names import clean_name
from models.vocabulary import AuditAction, CredentialState
from services import audit
from services.credentials.registration import CredentialNotActive, find_patient_credential, revoke_credential
from services.patients.account_history import account_history
from services.patients.basic_info import update_basic_info
from services.patients.names import is_placeholder_first_name
from services.patients.patient_search import (
    InvalidSearch,
    PatientSearch,
    page_number,
    parse_patient_search,
    search_patients,
    search_portal_users,
)
from services.patients.portal_status import STATUS_LABELS

bp = Blueprint("patient_admin", __name__, cli_group=None)
# Its commands keep their top-level names: `flask --app app <group> <command>`.
for _command in COMMANDS:
    bp.cli.add_command(_command)

SEARCH_KEYS = ("mode", "last", "first", "dob", "status", "email")
SEARCH_BY_OPTIONS = [
    ("all", "All"),
    ("registered", "Registered"),
    ("pending", "Pending"),
    ("self_registered", "Self Registered"),
    ("unregistered", "Unregistered"),
]


@bp.get("/")
@staff_required
def home():
    return redirect(url_for("patient_admin.search"))


def _search_context() -> dict:
    return {
        "search_by_options": SEARCH_BY_OPTIONS,
        "status_labels": STATUS_LABELS,
        "args": request.args,
        # Only the search's own keys travel into links (never url_for options such as _external).
        "search_args": {key: request.args[key] for key in SEARCH_KEYS if request.args.get(key)},
    }


def _page_number() -> int:
    return page_number(request.args.get("page"))


def _search_users():
    """Search by portal user: the User toggle's results fragment, or the page."""
    email = (request.args.get("email") or "").strip()
    results = None
    if "email" in request.args:
        audit.record_alone(db.session, staff_actor(), AuditAction.SEARCH, detail="portal users by email")
        results = search_portal_users(db.session, g.staff_context.practice_id, email, _page_number(),
                                      current_app.config["SEARCH_PAGE_SIZE"])
    return render_fragment_or_page("patient_admin/search.html", "patient_admin/_user_results.html",
                                   mode="user", email=email, results=results, **_search_context())


def _search_kinds(criteria: PatientSearch) -> str:
    """That a search happened and its filter kinds; never the names or dates searched for."""
    kinds = [key for key in ("last", "first", "dob") if request.args.get(key)]
    kinds.append(f"status={criteria.status}" if request.args.get("status") else "status=all")
    return "filters: " + ", ".join(kinds)


@bp.get("/patients")
@staff_required
def search():
    """Patient Administration page; for htmx, the results fragment alone (422: the messages)."""
    if request.args.get("mode") == "user":
        return _search_users()
    try:
        criteria, errors = parse_patient_search(request.args), {}
    except InvalidSearch as invalid:
        criteria, errors = PatientSearch(), invalid.errors
    results = None
    if not errors and (criteria.has_criteria or "status" in request.args):
        # Recorded (committed) before the search runs, so the results are not reloaded row by row.
        audit.record_alone(db.session, staff_actor(), AuditAction.SEARCH, detail=_search_kinds(criteria))
        results = search_patients(db.session, g.staff_context.practice_id, criteria, clock()(),
                                  current_app.config["SEARCH_PAGE_SIZE"])
    return render_fragment_or_page(
        "patient_admin/search.html", "patient_admin/_results.html", 422 if errors else 200,
        mode="account", criteria=criteria, errors=errors, results=results, **_search_context(),
    )


@bp.get("/patients/<id:patient_id>")
@staff_required
def account(patient_id: int):
    """Patient Account page; for htmx, its portal summary fragment (status and credentials).
    A delivery region refreshing itself is not a new look at the account: not audited."""
    patient = load_patient_or_404(patient_id)
    if is_automatic():
        return render_summary(patient)
    audit.record_alone(db.session, staff_actor(), AuditAction.VIEW_ACCOUNT, patient_id=patient.id)
    history = account_history(db.session, g.staff_context.practice_id, patient.id)
    return render_fragment_or_page(
        "patient_admin/account.html", "patient_admin/_portal_summary.html", history=history,
        open_window=request.args.get("register") == "1",
        **account_context(patient, revoking=request.args.get("revoke")),
    )


@bp.get("/patients/<id:patient_id>/history")
@staff_required
def history(patient_id: int):
    """The account page's History, refreshed in place after an action (the page itself was the
    look at the account, audited once)."""
    patient = load_patient_or_404(patient_id)
    if not is_fragment_request():
        # A whole page is a look at the account: the account page itself, which audits it.
        return account(patient.id)
    return render_template("patient_admin/_history.html", patient=patient,
                           history=account_history(db.session, g.staff_context.practice_id, patient.id))


@bp.post("/patients/<id:patient_id>/credentials/<id:credential_id>/revoke")
@changes_the_account
@staff_required
def revoke(patient_id: int, credential_id: int):
    """Revoke PIN. For htmx, the portal summary fragment (422 with the message beside Reason,
    409 when the credential is no longer active); without JavaScript, a redirect back to the
    Patient Account page, or the page itself for 422 and 409."""
    patient = load_patient_or_404(patient_id)
    credential = find_patient_credential(db.session, g.staff_context.practice_id, patient.id, credential_id)
    if credential is None:
        abort(404)
    audience, form = credential.audience, RevokeForm(prefix=revoke_prefix(credential.audience))
    if credential.state(clock()()) == CredentialState.ACTIVE and not form.validate():
        return render_summary(patient, 422, submitted={audience: form})
    try:
        revoke_credential(db.session, staff_actor(), credential, form.reason.data)
    except CredentialNotActive as refused:  # used, revoked or replaced since the page was shown
        return render_summary(patient, 409, notices={audience: Notice("alert", refused.message)})
    done = f"{credential.noun[0].upper()}{credential.noun[1:]} revoked."
    if not is_fragment_request():
        flash(done)
        return redirect(url_for("patient_admin.account", patient_id=patient.id))
    return render_summary(patient, notices={audience: Notice("status", done)})


def _name_as_stored(value):
    """The name as it will be saved (models.names.clean_name), so that a name of invisible
    characters only is refused as empty, and lengths count what is kept."""
    return clean_name(value) if isinstance(value, str) else value


class BasicInfoForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect guards every POST

    first_name = StringField(
        "First name", filters=[_name_as_stored],
        validators=[DataRequired(message="Enter the patient's given name."), Length(max=100)],
    )
    last_name = StringField(
        "Last name", filters=[_name_as_stored], validators=[DataRequired(message="Enter the last name."), Length(max=100)]
    )

    def validate_first_name(self, field):
        if is_placeholder_first_name(field.data or ""):
            raise ValidationError("Enter the patient's given name, not a placeholder such as Baby Boy.")


@bp.route("/patients/<id:patient_id>/basic-info", methods=["GET", "POST"])
@staff_required
def basic_info(patient_id: int):
    """Update Basic Info page: the patient's first and last name."""
    patient = load_patient_or_404(patient_id)
    form = BasicInfoForm(obj=patient)
    if form.validate_on_submit():
        blocked = given_name_refusal(patient) is not None
        update_basic_info(db.session, staff_actor(), patient, form.first_name.data, form.last_name.data)
        flash("Basic info saved.")
        # The given name was what stood in the way: on to the registration window at once.
        register = {"register": "1"} if blocked and given_name_refusal(patient) is None else {}
        return redirect(url_for("patient_admin.account", patient_id=patient.id, **register))
    status = 422 if request.method == "POST" else 200
    return render_template("patient_admin/basic_info.html", patient=patient, form=form), status
