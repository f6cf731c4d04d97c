"""Patient Administration: search patients and portal users, the Patient Account page (with
Revoke PIN), and Update Basic Info."""

from __future__ import annotations

from typing import NamedTuple

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from blueprints.auth import audit, is_automatic, staff_required
from blueprints.rendering import is_fragment_request, render_fragment_or_page
from extensions import db
from models import Patient, RegistrationCredential, utcnow
from services.audit import patient_history
from services.basic_info import rename_patient
from services.names import is_placeholder_first_name
from services.patient_search import (
    InvalidSearch,
    PatientSearch,
    parse_patient_search,
    search_patients,
    search_portal_users,
)
from services.portal_status import STATUS_LABELS, portal_status_of
from services.practice_time import age_description, practice_today
from services.registration import (
    REVOKE_REASON_MAX_LENGTH,
    CredentialNotActive,
    CredentialNotFound,
    latest_credentials,
    revoke_credential,
)

bp = Blueprint("patient_admin", __name__)

SEARCH_KEYS = ("mode", "last", "first", "dob", "status", "email")
SEARCH_BY_OPTIONS = [
    ("all", "All"),
    ("registered", "Registered"),
    ("pending", "Pending"),
    ("self_registered", "Self Registered"),
    ("unregistered", "Unregistered"),
]


def get_patient_or_404(patient_id: int) -> Patient:
    """The patient, if it belongs to the signed-in practice; 404 otherwise (never 403, which
    would confirm that the id exists elsewhere)."""
    patient = db.session.scalar(
        select(Patient).where(Patient.id == patient_id, Patient.practice_id == g.practice_id)
    )
    if patient is None:
        abort(404)
    return patient


@bp.get("/")
@staff_required
def home():
    return redirect(url_for("patient_admin.search"))


@bp.get("/patients")
@staff_required
def search():
    """Patient Administration page; for htmx, the results fragment alone."""
    page_size = current_app.config["SEARCH_PAGE_SIZE"]
    mode = "user" if request.args.get("mode") == "user" else "account"
    # Only the search's own keys travel into links (never url_for options such as _external).
    search_args = {key: request.args[key] for key in SEARCH_KEYS if request.args.get(key)}
    context = {
        "mode": mode,
        "search_by_options": SEARCH_BY_OPTIONS,
        "status_labels": STATUS_LABELS,
        "args": request.args,
        "search_args": search_args,
    }
    if mode == "user":
        email = (request.args.get("email") or "").strip()
        context["email"] = email
        try:
            page = max(1, int(request.args.get("page") or 1))
        except ValueError:
            page = 1
        if "email" in request.args:
            audit("search", detail="portal users by email")
        context["results"] = (
            search_portal_users(db.session, g.practice_id, email, page, page_size)
            if "email" in request.args
            else None
        )
        return render_fragment_or_page("patient_admin/search.html", "patient_admin/_user_results.html", **context)

    status = 200
    errors: dict[str, str] = {}
    try:
        criteria = parse_patient_search(request.args)
    except InvalidSearch as invalid:
        errors = invalid.errors
        criteria = PatientSearch()
        status = 422
    searched = not errors and (criteria.has_criteria or "status" in request.args)
    if searched:
        # That a search happened and its filter kinds; never the names or dates searched for.
        # Recorded (committed) before the search runs, so the results are not reloaded row by row.
        kinds = [key for key in ("last", "first", "dob") if request.args.get(key)]
        kinds.append(f"status={criteria.status}" if request.args.get("status") else "status=all")
        audit("search", detail="filters: " + ", ".join(kinds))
    context.update(
        criteria=criteria,
        errors=errors,
        results=search_patients(db.session, g.practice_id, criteria, utcnow(), page_size) if searched else None,
    )
    return render_fragment_or_page("patient_admin/search.html", "patient_admin/_results.html", status, **context)


@bp.get("/patients/<int:patient_id>")
@staff_required
def account(patient_id: int):
    """Patient Account page; for htmx, its portal summary fragment (status and credentials)."""
    patient = get_patient_or_404(patient_id)
    if is_automatic():  # a delivery region refreshing itself: not a new look at the account
        return render_fragment_or_page(
            "patient_admin/account.html", "patient_admin/_portal_summary.html", **account_context(patient)
        )
    audit("view account", patient_id=patient.id)
    return render_fragment_or_page(
        "patient_admin/account.html",
        "patient_admin/_portal_summary.html",
        history=patient_history(db.session, g.practice_id, patient.id),
        **account_context(patient),
    )


class RevokeForm(FlaskForm):
    """Revoke PIN. One per audience region; the prefix keeps the ids unique on the page."""

    class Meta:
        csrf = False  # CSRFProtect guards every POST

    reason = StringField(
        "Reason",
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[
            DataRequired(message="Enter the reason for revoking."),
            Length(
                max=REVOKE_REASON_MAX_LENGTH,
                message=f"Keep the reason to {REVOKE_REASON_MAX_LENGTH} characters or fewer.",
            ),
        ],
    )


def revoke_prefix(audience: str) -> str:
    return f"revoke-{audience}"


class RevokeNotice(NamedTuple):
    role: str  # "status" (done) or "alert" (refused)
    text: str


def account_context(
    patient: Patient, submitted: dict[str, RevokeForm] | None = None, notices: dict[str, RevokeNotice] | None = None
) -> dict:
    """What the account page and its portal summary show. A Revoke PIN form is offered for each
    active credential; `submitted` (by audience) puts a submitted one, errors and all, in place
    of an empty one, and `notices` (by audience) says what became of a revocation."""
    submitted = submitted or {}
    now = utcnow()
    today = practice_today(g.practice, now)
    credentials = latest_credentials(db.session, patient.id)
    forms = {
        audience: submitted.get(audience) or RevokeForm(formdata=None, prefix=revoke_prefix(audience))
        for audience, credential in credentials.items()
        if credential.state(now) == "Active"
    }
    return {
        "patient": patient,
        "age": age_description(patient.date_of_birth, today),
        "status_label": STATUS_LABELS[portal_status_of(db.session, patient.id, now)],
        "credentials": credentials,
        "revoke_forms": forms,
        "revoke_notices": notices or {},
        "now": now,
    }


@bp.post("/patients/<int:patient_id>/credentials/<int:credential_id>/revoke")
@staff_required
def revoke(patient_id: int, credential_id: int):
    """Revoke PIN. For htmx, the portal summary fragment (422 with the message beside Reason,
    409 when the credential is no longer active); without JavaScript, a redirect back to the
    Patient Account page, or the page itself for 422 and 409."""
    patient = get_patient_or_404(patient_id)
    credential = db.session.scalar(
        select(RegistrationCredential).where(
            RegistrationCredential.id == credential_id,
            RegistrationCredential.patient_id == patient.id,
            RegistrationCredential.practice_id == g.practice_id,
        )
    )
    if credential is None:
        abort(404)
    audience = credential.audience
    noun = "PIN" if credential.kind == "pin" else "verification question"
    state = credential.state(utcnow())
    if state == "Active":
        form = RevokeForm(prefix=revoke_prefix(audience))
        if not form.validate():
            return _render_summary(patient, 422, submitted={audience: form})
        try:
            revoke_credential(db.session, g.practice_id, credential.id, form.reason.data, g.staff_id, utcnow())
        except CredentialNotFound:
            abort(404)
        except CredentialNotActive as refused:
            state = refused.state  # used, revoked or replaced since the page was shown
        else:
            # The reason is staff's free text (it may name the patient): not in the trail.
            audit("revoke", patient_id=patient.id, detail=f"{noun} {credential.id}")
            done = f"{noun[0].upper()}{noun[1:]} revoked."
            if not is_fragment_request():
                flash(done)
                return redirect(url_for("patient_admin.account", patient_id=patient.id))
            return _render_summary(patient, notices={audience: RevokeNotice("status", done)})
    refusal = f"Not revoked: that {noun} is {state} already, not Active."
    audit("revoke", "refused", patient_id=patient.id, detail=f"{noun} {credential.id} is {state}")
    return _render_summary(patient, 409, notices={audience: RevokeNotice("alert", refusal)})


def _render_summary(patient: Patient, status: int = 200, submitted=None, notices=None):
    """The portal summary for htmx, the whole Patient Account page otherwise."""
    return render_fragment_or_page(
        "patient_admin/account.html",
        "patient_admin/_portal_summary.html",
        status,
        **account_context(patient, submitted=submitted, notices=notices),
    )


class BasicInfoForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect guards every POST

    first_name = StringField(
        "First name", validators=[DataRequired(message="Enter the patient's given name."), Length(max=100)]
    )
    last_name = StringField("Last name", validators=[DataRequired(message="Enter the last name."), Length(max=100)])

    def validate_first_name(self, field):
        if is_placeholder_first_name(field.data or ""):
            raise ValidationError("Enter the patient's given name, not a placeholder such as Baby Boy.")


@bp.route("/patients/<int:patient_id>/basic-info", methods=["GET", "POST"])
@staff_required
def basic_info(patient_id: int):
    """Update Basic Info page: the patient's first and last name."""
    patient = get_patient_or_404(patient_id)
    form = BasicInfoForm(obj=patient)
    if form.validate_on_submit():
        rename_patient(patient, form.first_name.data, form.last_name.data)
        db.session.commit()
        audit("basic-info change", patient_id=patient.id, detail="first and last name")
        flash("Basic info saved.")
        return redirect(url_for("patient_admin.account", patient_id=patient.id))
    status = 422 if request.method == "POST" else 200
    return render_template("patient_admin/basic_info.html", patient=patient, form=form), status
