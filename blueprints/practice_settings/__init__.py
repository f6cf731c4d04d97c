"""Practice Settings: what a practice admin sets for the whole practice: the PIN lifetime, the
Terms & Conditions its parents accept, and the wording of the PIN welcome messages (Message
Templates, with a preview)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, stream_with_context, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, StopValidation, ValidationError

from blueprints.access import admin_required, current_practice, staff_actor
from blueprints.configured import default_portal_url, signing_keys
from blueprints.extensions import db
from blueprints.input_bounds import parse_id
from blueprints.practice_settings.cli import COMMANDS
from blueprints.rendering import render_fragment_or_page
from models.practice import MAX_PIN_LIFETIME_DAYS, TERMS_MAX_LENGTH
from models.vocabulary import AuditAction
from services import audit
from services.credentials.registration import portal_url_for
from services.delivery import message_templates
from services.identity.staff import MIN_STAFF_PASSWORD_LENGTH, StaffError, add_new_staff, practice_staff, remove_from_practice
from services.practice.practice_settings import MIN_PIN_LIFETIME_DAYS, save_practice_settings, terms_problem

bp = Blueprint("practice_settings", __name__, cli_group=None)
# Its commands keep their top-level names: `flask --app app <group> <command>`.
for _command in COMMANDS:
    bp.cli.add_command(_command)

LIFETIME_MESSAGE = f"Enter a whole number of days from {MIN_PIN_LIFETIME_DAYS} to {MAX_PIN_LIFETIME_DAYS}."


def _stop_when_unreadable(form, field):
    """Text that is not a whole number already carries its message; say it once."""
    if field.process_errors:
        raise StopValidation()


class PracticeSettingsForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect guards every POST

    pin_lifetime_days = IntegerField(
        "PIN lifetime (days)",
        invalid_value_message=LIFETIME_MESSAGE,
        validators=[
            _stop_when_unreadable,
            NumberRange(min=MIN_PIN_LIFETIME_DAYS, max=MAX_PIN_LIFETIME_DAYS, message=LIFETIME_MESSAGE),
        ],
    )
    # A POST without the field keeps the practice's text (the form is filled from the practice).
    terms_text = TextAreaField("Terms & Conditions")

    def validate_terms_text(self, field):
        problem = terms_problem(field.data)
        if problem:
            raise ValidationError(problem)


@bp.route("/practice/settings", methods=["GET", "POST"])
@admin_required
def settings():
    """Practice Settings page (full page); 403 for staff who are not admins of the practice."""
    form = PracticeSettingsForm(obj=current_practice())
    if form.validate_on_submit():
        save_practice_settings(db.session, staff_actor(), pin_lifetime_days=form.pin_lifetime_days.data,
                               terms_text=form.terms_text.data)
        flash("Practice settings saved.")
        return redirect(url_for("practice_settings.settings"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "practice_settings/settings.html",
        form=form,
        min_days=MIN_PIN_LIFETIME_DAYS,
        max_days=MAX_PIN_LIFETIME_DAYS,
        terms_max=TERMS_MAX_LENGTH,
        terms_url=url_for("portal.terms", practice=current_practice().slug),
    ), status


class TemplateForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect guards every POST

    subject = StringField("Subject")
    body = TextAreaField("Message")


def _kind_or_404(kind: str) -> str:
    if kind not in message_templates.KIND_LABELS:
        abort(404)
    return kind


@bp.get("/practice/templates")
@admin_required
def templates():
    """Message Templates: the three kinds, each built-in or the practice's own."""
    saved = message_templates.load(db.session, g.staff_context.practice_id)
    return render_template(
        "practice_settings/templates.html", labels=message_templates.KIND_LABELS, saved=saved
    )


@bp.route("/practice/templates/<kind>", methods=["GET", "POST"])
@admin_required
def template(kind: str):
    """Edit one kind's template. POST `action`: `preview` (renders sample values, saves nothing),
    `save` (refused with the reasons beside the fields: 422), `default` (back to the built-in
    wording). htmx gets the editor fragment; without JavaScript, the page."""
    kind, practice = _kind_or_404(kind), current_practice()
    portal_url = portal_url_for(practice, default_portal_url())
    action = request.form.get("action", "preview") if request.method == "POST" else "show"
    if action in ("show", "default"):
        if action == "default":
            message_templates.restore_default(db.session, staff_actor(), kind)
        subject, body = message_templates.load(db.session, practice.id).subject_and_body(kind)
        form = TemplateForm(formdata=None, data={"subject": subject or "", "body": body})
        notice = "Restored: the built-in wording is used again." if action == "default" else None
        return _editor(kind, form, practice, portal_url, notice=notice)
    form = TemplateForm()
    subject = form.subject.data if kind == "email" else None
    problems = message_templates.problems(kind, subject, form.body.data or "", practice, portal_url)
    form.validate()  # no validators of its own: it only gives each field an errors list
    for problem in problems:
        getattr(form, problem.field).errors.append(problem.text)
    if problems:
        return _editor(kind, form, practice, portal_url, status=422)
    if action == "save":
        message_templates.save(db.session, staff_actor(), practice, portal_url, kind, subject, form.body.data)
        return _editor(kind, form, practice, portal_url, notice="Saved: new messages use this wording.", preview=True)
    return _editor(kind, form, practice, portal_url, preview=True)


def _editor(kind, form, practice, portal_url, status=200, notice=None, preview=False):
    context = {
        "kind": kind,
        "label": message_templates.KIND_LABELS[kind],
        "form": form,
        "is_custom": message_templates.load(db.session, practice.id).get(kind) is not None,
        "notice": notice,
        "placeholders": {
            name: text for name, text in message_templates.PLACEHOLDERS.items()
            if not (kind == "text" and name == "patient_first_name")
        },
        "preview": _preview(kind, form, practice, portal_url) if preview else None,
    }
    return render_fragment_or_page(
        "practice_settings/template.html", "practice_settings/_template_editor.html", status, **context
    )


def _preview(kind, form, practice, portal_url):
    """The message as a parent would get it, with the practice's own values and a sample PIN."""
    details = message_templates.sample_details(practice, portal_url)
    body = form.body.data or ""
    values = message_templates.values_for(kind, details)
    if kind == "email":
        return {
            "subject": message_templates.render(form.subject.data or "", values),
            "text": message_templates.render(body, values),
            "html": message_templates.render_html(body, details),
        }
    if kind == "text":
        text = message_templates.render(body, values)
        return {
            "text": text,
            "length": message_templates.gsm7_length(text),
            "longest": message_templates.longest_text_length(body, practice, portal_url),
            "limit": message_templates.SMS_LIMIT,
        }
    return {"html": message_templates.render_html(body, details, big_pin=True)}


AUDIT_RANGE_MESSAGE = "Enter a From and To date (YYYY-MM-DD), From on or before To."


def _practice_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(g.staff_context.timezone))


@bp.get("/practice/audit")
@admin_required
def audit_trail():
    """Audit trail: export a date range of the practice's events as CSV (admins only)."""
    today = datetime.now(ZoneInfo(g.staff_context.timezone)).date()
    return render_template("practice_settings/audit.html", start=today - timedelta(days=30), end=today, error=None)


@bp.get("/practice/audit.csv")
@admin_required
def audit_export():
    """The practice's audit events from the start of From to the end of To (the practice's days),
    oldest first, as CSV. 422 (the page with the message) for a bad range."""
    try:
        start = date.fromisoformat(request.args.get("from", ""))
        end = date.fromisoformat(request.args.get("to", ""))
        if start > end:
            raise ValueError
        _practice_day_start(start - timedelta(days=1)), _practice_day_start(end + timedelta(days=2))
    except (ValueError, OverflowError):
        return render_template(
            "practice_settings/audit.html", start=request.args.get("from", ""), end=request.args.get("to", ""),
            error=AUDIT_RANGE_MESSAGE,
        ), 422
    audit.record_alone(db.session, staff_actor(), AuditAction.EXPORT, detail=f"audit trail {start.isoformat()} to {end.isoformat()}")
    lines = audit.export_csv(
        db.session, g.staff_context.practice_id, _practice_day_start(start), _practice_day_start(end + timedelta(days=1))
    )
    filename = f"audit-{start.isoformat()}-to-{end.isoformat()}.csv"
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class AddStaffForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect guards every POST

    # The username and password rules are the service's (services/identity/staff.py), which the CLI shares.
    username = StringField("Username", validators=[DataRequired(message="Enter a username."), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(message="Enter a password.")])
    is_admin = BooleanField("Practice admin")


@bp.route("/practice/staff", methods=["GET", "POST"])
@admin_required
def staff():
    """Staff: who works in this practice; an admin adds a new login or removes someone."""
    form = AddStaffForm()
    if form.validate_on_submit():
        try:
            add_new_staff(db.session, staff_actor(), form.username.data.strip(), form.password.data,
                          form.is_admin.data, signing_keys().hash_method)
        except StaffError as error:
            getattr(form, error.field).errors.append(str(error))
        else:
            flash(f"{form.username.data.strip()} can now sign in to {g.staff_context.practice_name}.")
            return redirect(url_for("practice_settings.staff"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "practice_settings/staff.html", form=form, members=practice_staff(db.session, g.staff_context.practice_id),
        min_password_length=MIN_STAFF_PASSWORD_LENGTH, removing=parse_id(request.args.get("remove")),
    ), status


@bp.post("/practice/staff/<id:staff_id>/remove")
@admin_required
def remove_staff(staff_id: int):
    """Remove a staff member from this practice (404 for someone who is not in it)."""
    if staff_id == g.staff_context.staff_id:
        return render_template(
            "practice_settings/staff.html", form=AddStaffForm(formdata=None),
            members=practice_staff(db.session, g.staff_context.practice_id), min_password_length=MIN_STAFF_PASSWORD_LENGTH,
            refusal="You cannot remove yourself; ask another practice admin.",
        ), 409
    if not remove_from_practice(db.session, staff_actor(), staff_id):
        abort(404)
    flash("Removed from the practice. Their open sessions here end at their next click.")
    return redirect(url_for("practice_settings.staff"))
