"""The Patient Account page's portal summary, shared by the screens that act on it (Revoke PIN,
Retry, Print instead, the registration window): what it shows and how it is rendered."""

from __future__ import annotations

import functools
from typing import NamedTuple

from flask import g, make_response
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from blueprints.access import clock
from blueprints.configured import couriers
from blueprints.extensions import db
from blueprints.htmx import current_htmx, trigger_client_event
from blueprints.rendering import is_fragment_request, render_fragment_or_page
from models import Patient
from models.vocabulary import CredentialState
from services.credentials.print_instead import ways_forward
from services.credentials.registration import REVOKE_REASON_MAX_LENGTH, latest_credentials, needs_given_name
from services.delivery.carriers import list_carriers
from services.delivery.timeline import pin_timeline
from services.patients.account_history import account_history
from services.patients.portal_status import STATUS_LABELS, portal_status_of
from services.practice.practice_time import age_description, practice_today_in


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


def given_name_refusal(patient: Patient) -> str | None:
    """Why no PIN can be issued for this patient yet, in the words the window and the account
    page show; None when the given name is on file."""
    if needs_given_name(patient):
        return (
            f"{patient.first_name} is not the patient's given name. Update the basic info with the "
            "given name before issuing a PIN."
        )
    return None


def revoke_prefix(audience: str) -> str:
    return f"revoke-{audience}"


class Notice(NamedTuple):
    """What became of an action in an audience's region: done (`status`) or refused (`alert`)."""

    role: str
    text: str


def account_context(
    patient: Patient, submitted: dict[str, RevokeForm] | None = None, notices: dict[str, Notice] | None = None,
    delivery_notices: dict[str, Notice] | None = None, revoking: str | None = None,
) -> dict:
    """What the account page and its portal summary show. A Revoke PIN form is offered for each
    active credential; `submitted` (by audience) puts a submitted one, errors and all, in place
    of an empty one; `notices` and `delivery_notices` (by audience) say what became of a
    revocation or a delivery action."""
    submitted = submitted or {}
    now = clock()()
    credentials = latest_credentials(db.session, patient.id)
    forms = {
        audience: submitted.get(audience) or RevokeForm(formdata=None, prefix=revoke_prefix(audience))
        for audience, credential in credentials.items()
        if credential.state(now) == CredentialState.ACTIVE
    }
    today = practice_today_in(g.staff_context.timezone, now)
    sms_service, carriers = couriers().texts_through_sms_service, None
    ways = {}
    for audience, credential in credentials.items():
        if credential.welcome_message is not None:
            carriers = carriers if carriers is not None else list_carriers(db.session)
            ways[audience] = ways_forward(db.session, credential.welcome_message, now, today, sms_service, carriers)
    return {
        "patient": patient,
        "age": age_description(patient.date_of_birth, today),
        "status_label": STATUS_LABELS[portal_status_of(db.session, patient.id, now)],
        "credentials": credentials,
        "revoke_forms": forms,
        "given_name_refusal": given_name_refusal(patient),
        "revoke_notices": notices or {},
        # The audience whose Revoke PIN box was opened by a page load (the first step, without JS).
        "revoking": revoking,
        "delivery_notices": delivery_notices or {},
        "now": now,
        "ways_forward": ways,
        # Each audience's PIN's timeline, and the one of the PIN it stood in for, if any.
        "timelines": {
            audience: [(c, pin_timeline(c, now)) for c in (credential, credential.instead_of) if c is not None]
            for audience, credential in credentials.items()
        },
    }


def render_summary(patient: Patient, status: int = 200, retarget: str | None = None, reswap: str | None = None,
                   **context_args):
    """The portal summary for htmx (retargeted and reswapped when asked), the whole Patient
    Account page otherwise."""
    # The whole page (no JavaScript) lists the History too; the fragment leaves it to refresh itself.
    history = None if is_fragment_request() else account_history(db.session, patient.practice_id, patient.id)
    return render_fragment_or_page(
        "patient_admin/account.html", "patient_admin/_portal_summary.html", status, retarget=retarget,
        reswap=reswap, history=history, **account_context(patient, **context_args),
    )


HISTORY_CHANGED = "history-changed"


def changes_the_account(view):
    """For a view that acts on a patient's account (issue, revoke, Retry, a way forward): when it
    went through (200, or 204 for a print recorded), the page's History refreshes itself
    (templates/patient_admin/_history.html listens). A refused one (409, 422) leaves it."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        if current_htmx() and response.status_code in (200, 204):
            # A 204 swaps nothing, so nothing settles: its event fires as it is received.
            trigger_client_event(response, HISTORY_CHANGED, after="settle" if response.status_code == 200 else "receive")
        return response

    return wrapped
