"""Practice Settings: what a practice admin sets for the whole practice (the PIN lifetime)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import NumberRange, StopValidation

from blueprints.auth import admin_required
from extensions import db
from models.practice import MAX_PIN_LIFETIME_DAYS
from services.practice_settings import MIN_PIN_LIFETIME_DAYS, set_pin_lifetime

bp = Blueprint("practice_settings", __name__)

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


@bp.route("/practice/settings", methods=["GET", "POST"])
@admin_required
def settings():
    """Practice Settings page (full page); 403 for staff who are not admins of the practice."""
    form = PracticeSettingsForm(obj=g.practice)
    if form.validate_on_submit():
        set_pin_lifetime(db.session, g.practice.id, form.pin_lifetime_days.data, g.staff.id)
        flash("Practice settings saved.")
        return redirect(url_for("practice_settings.settings"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "practice_settings/settings.html",
        form=form,
        min_days=MIN_PIN_LIFETIME_DAYS,
        max_days=MAX_PIN_LIFETIME_DAYS,
    ), status
