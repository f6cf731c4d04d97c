"""The Patient Registration window: open it, toggle its fields, issue a PIN or question; and the
delivery actions on the account page (Retry, Print instead)."""

from __future__ import annotations

import secrets
from typing import NamedTuple

from flask import Blueprint, abort, flash, redirect, request, url_for

from blueprints.access import clock, current_practice, load_patient_or_404, staff_actor, staff_required
from blueprints.account_page import Notice, account_context, changes_the_account, given_name_refusal, render_summary
from blueprints.configured import couriers, default_portal_url, message_cipher, signing_keys
from blueprints.extensions import db
from blueprints.htmx import current_htmx, trigger_client_event
from blueprints.registration.cli import COMMANDS
from blueprints.registration.forms import RegistrationForm, WindowContext
from blueprints.rendering import is_fragment_request, render_fragment_or_page
from models import Patient, WelcomeMessage
from models.vocabulary import PortalStatus, SendBy
from services.credentials import print_instead as printing
from services.credentials.registration import (
    LONGEST_CREDENTIAL_ID,
    AlreadyIssued,
    IssueRequest,
    PortalAccount,
    UnofficialName,
    deliver_welcome_message,
    issue_credential,
    pending_credential,
    portal_accounts,
    portal_url_for,
    question_link,
    record_letter_printed,
)
from services.delivery.carriers import list_carriers
from services.delivery.masking import mask_cell, mask_email
from services.delivery.outbox import FAILED, RETRY_LATER, SENT, WITHDRAWN, find_patient_message, retry_message
from services.delivery.welcome_messages import text_message_possible
from services.practice.practice_time import may_receive_own_pin, practice_today

bp = Blueprint("registration", __name__, cli_group=None)
# Its commands keep their top-level names: `flask --app app <group> <command>`.
for _command in COMMANDS:
    bp.cli.add_command(_command)

ACTIONS = ("print", "send", "complete")  # Print PIN, Send PIN / Verification Question, Complete / Log In
# The events a window fragment sends the page (static/js/app.js listens), once it has settled.
WINDOW_OPENED = "registration:opened"  # a new dialog: open it as a modal
WINDOW_ISSUED = "registration:issued"  # the result, shown once: {"printLetter": bool, "openPortal": bool}
WINDOW_INVALID = "registration:invalid"  # fields in error: the first one takes the focus


def _window_context(patient: Patient) -> WindowContext:
    practice = current_practice()
    today = practice_today(practice, clock()())
    portal_url = portal_url_for(practice, default_portal_url())
    return WindowContext(
        patient=patient,
        carriers=list_carriers(db.session),
        today=today,
        offers_send_to=may_receive_own_pin(patient.date_of_birth, today),
        text_fits_pin=text_message_possible(portal_url, practice.slug),
        text_fits_question=text_message_possible(
            portal_url, practice.slug,
            sample_link=question_link(portal_url, practice.slug, signing_keys().secret_key, LONGEST_CREDENTIAL_ID),
        ),
        sms_service=couriers().texts_through_sms_service,
    )


def _render_window(patient: Patient, status: int = 200, as_dialog: bool = False, **context):
    """The window: as a dialog fragment for htmx, inside the account page otherwise.
    A POST's fragment is the window alone (it replaces the open one), unless `as_dialog`: then
    it is the dialog itself, opened anew (Print instead, pressed on the account page)."""
    for name in ("form", "outcome", "refusal", "notice"):
        context.setdefault(name, None)
    form = context["form"]
    if form is not None:
        context["pending"] = pending_credential(db.session, patient.id, form.audience, clock()())
        context["registered"] = _registered(patient)
    fragment = "registration/_window.html"
    if is_fragment_request() and (request.method == "GET" or as_dialog):
        fragment = "registration/_dialog.html"
    response = render_fragment_or_page(
        "registration/page.html", fragment, status, **account_context(patient), **context
    )
    if is_fragment_request():
        _send_window_events(response, opened=fragment == "registration/_dialog.html", issued=context["outcome"] is not None,
                            action=context.get("action"), invalid=status == 422)
    return response


class Registered(NamedTuple):
    """What the window says of a patient whose portal status is already Registered."""

    accounts: list[PortalAccount]
    imported: bool  # the previous system said so, whether or not an account is linked here


def _registered(patient: Patient) -> Registered | None:
    accounts = portal_accounts(db.session, patient.practice_id, patient.id)
    imported = patient.imported_portal_status == PortalStatus.REGISTERED
    return Registered(accounts, imported) if accounts or imported else None


def _send_window_events(response, opened: bool, issued: bool, action: str | None, invalid: bool) -> None:
    """The page's script reacts to these rather than looking for ids after every swap. Opened
    comes first: a dialog that opens with its result gives the focus to the result."""
    if opened:
        trigger_client_event(response, WINDOW_OPENED, after="settle")
    if issued:
        trigger_client_event(response, WINDOW_ISSUED, {"printLetter": action == "print", "openPortal": action == "complete"},
                             after="settle")
    elif invalid:
        trigger_client_event(response, WINDOW_INVALID, after="settle")


@bp.get("/patients/<id:patient_id>/registration")
@staff_required
def window(patient_id: int):
    """Patient Registration window: the dialog fragment for htmx, a full page otherwise."""
    patient = load_patient_or_404(patient_id)
    refusal = given_name_refusal(patient)
    if refusal:
        return _render_window(patient, refusal=refusal)
    form = RegistrationForm(_window_context(patient), formdata=None)
    form.idempotency_key.data = secrets.token_urlsafe(24)
    form.apply_audience_defaults()
    return _render_window(patient, form=form)


@bp.post("/patients/<id:patient_id>/registration/form")
@staff_required
def toggle(patient_id: int):
    """The window re-rendered for the current choices (the htmx toggles); issues nothing."""
    patient = load_patient_or_404(patient_id)
    refusal = given_name_refusal(patient)
    if refusal:
        return _render_window(patient, refusal=refusal)
    form = RegistrationForm(_window_context(patient))
    # htmx names the element whose change asked for this render (the Send to fieldset's id).
    form.apply_audience_defaults(audience_changed=current_htmx().trigger == "send_to")
    form.collect_warnings()
    return _render_window(patient, form=form)


def _issue_request(form: RegistrationForm, action: str) -> IssueRequest:
    return IssueRequest(
        kind=form.method.data,
        access_level=form.access.data,
        send_by=form.send_by.data,
        audience=form.audience,
        idempotency_key=form.idempotency_key.data,
        email=form.clean_email,
        cell=form.clean_cell,
        question=(form.question.data or "").strip() or None,
        answer=form.answer.data,
        prints_letter=action == "print",
        sms_service=form.context.sms_service,
    )


@bp.post("/patients/<id:patient_id>/registration")
@changes_the_account
@staff_required
def issue(patient_id: int):
    """Issues one PIN or question and sends it; the window shows the result once.
    422: the window with messages beside fields. 409: unofficial name, or already issued."""
    patient = load_patient_or_404(patient_id)
    if refusal := given_name_refusal(patient):
        return _render_window(patient, status=409, refusal=refusal)
    if request.form.get("action") == "refresh":
        return toggle(patient_id)
    form = RegistrationForm(_window_context(patient))
    if not form.validate_for_issue():
        return _render_window(patient, status=422, form=form)
    action = request.form.get("action") if request.form.get("action") in ACTIONS else "send"
    actor = staff_actor()
    try:
        outcome = issue_credential(db.session, actor, patient=patient, request=_issue_request(form, action),
                                   keys=signing_keys(), default_portal_url=default_portal_url(),
                                   carrier=form.chosen_carrier)
    except AlreadyIssued:
        return _already_issued_response(patient)
    except UnofficialName:
        return _render_window(patient, status=409, refusal=given_name_refusal(patient))
    delivery = outcome.delivery and deliver_welcome_message(db.session, actor, patient.id, outcome.delivery, couriers())
    return _render_window(
        patient, outcome=outcome, delivery=delivery, action=action, oob=is_fragment_request(),
        desk_link=outcome.desk_link,
    )


@bp.post("/patients/<id:patient_id>/credentials/<id:credential_id>/letter-printed")
@changes_the_account
@staff_required
def letter_printed(patient_id: int, credential_id: int):
    """Print letter (again) in the window's result: records that the letter was printed (the page
    prints it itself; the PIN is in no URL). 204, nothing to swap; 404 for another patient's."""
    patient = load_patient_or_404(patient_id)
    if not record_letter_printed(db.session, staff_actor(), patient.id, credential_id):
        abort(404)
    return "", 204


def _already_issued_response(patient: Patient):
    """409 Already issued. htmx puts the notice above the first result, which stays shown."""
    notice = "Already issued: this window has issued its PIN already, and nothing more was issued."
    if is_fragment_request():
        return render_fragment_or_page(
            "registration/page.html",
            "registration/_notice.html",
            409,
            retarget="#registration-notice", reswap="outerHTML",
            notice=notice,
        )
    return _render_window(patient, status=409, notice=notice)


NO_LONGER_KEPT = "This message is no longer kept, so it cannot be sent again. Issue a new PIN to send one."


def _patient_message_or_404(patient: Patient, message_id: int) -> WelcomeMessage:
    message = find_patient_message(db.session, patient.practice_id, patient.id, message_id)
    if message is None:
        abort(404)
    return message


def _retry_answer(outcome: str, message: WelcomeMessage) -> tuple[int, Notice]:
    """What the delivery region says after a Retry, and its status."""
    if outcome == SENT:
        return 200, Notice("status", "Sent.")
    # The delivery line above the notice gives the reason: the notice does not repeat it.
    if outcome == RETRY_LATER:
        return 200, Notice("alert", "Retry did not get through. The message stays queued and is tried again automatically.")
    if outcome == FAILED:
        return 200, Notice("alert", "Retry did not get through, and the message has failed for good.")
    if outcome == WITHDRAWN:
        return 409, Notice("alert", "Nothing was sent.")
    # TAKEN: a worker (or another click) is sending it at this moment.
    return 409, Notice("alert", "It is being sent right now; its state is shown here.")


@bp.post("/patients/<id:patient_id>/messages/<id:message_id>/retry")
@changes_the_account
@staff_required
def retry(patient_id: int, message_id: int):
    """Retry: send this very welcome message again, now, while its body is still held.
    For htmx, the portal summary (the button's region takes its own part); without JavaScript, a
    redirect back to the Patient Account page. 409 when there is nothing left to send; 404 for
    another practice's (or another patient's) message."""
    patient = load_patient_or_404(patient_id)
    message = _patient_message_or_404(patient, message_id)
    audience = message.credential.audience
    if message.left_us:
        return _delivery_answer(patient, audience, 409, Notice("alert", "Already sent: nothing to retry."))
    if not message.holds_body:
        return _delivery_answer(patient, audience, 409, Notice("alert", NO_LONGER_KEPT))
    outcome = retry_message(db.session, staff_actor(), message, couriers(), message_cipher())
    db.session.refresh(message)
    return _delivery_answer(patient, audience, *_retry_answer(outcome, message))


def _delivery_answer(patient: Patient, audience: str, status: int, notice: Notice):
    if not is_fragment_request():
        flash(notice.text)
        return redirect(url_for("patient_admin.account", patient_id=patient.id))
    return render_summary(patient, status, delivery_notices={audience: notice})


@bp.app_template_global()
def print_instead_offered(message, now) -> bool:
    """The account page's delivery region: whether `Print instead` is offered for `message`."""
    return printing.offered(message, now)


@bp.app_template_global()
def printed_instead(credential) -> bool:
    return printing.is_printed_instead(credential)


@bp.post("/patients/<id:patient_id>/messages/<id:message_id>/print-instead")
@changes_the_account
@staff_required
def print_instead(patient_id: int, message_id: int):
    """Print instead: issue a fresh PIN (not sent) in place of this undelivered message's one,
    which it revokes, and show it once with the print-only letter, as Print PIN does.
    For htmx, the Patient Registration dialog with the result (into the account page's dialog
    slot) and the portal summary out of band; without JavaScript, the account page with the
    window open. 409 (the delivery region says why) when already done for this message, sent,
    superseded or no longer printable; 409 with the window's refusal for an unofficial name;
    404 for another practice's (or another patient's) message. POST only: the PIN is never
    behind a URL that a GET could show again."""
    patient = load_patient_or_404(patient_id)
    message = _patient_message_or_404(patient, message_id)
    audience = message.credential.audience
    try:
        outcome = printing.print_instead(db.session, staff_actor(), patient=patient, message=message,
                                         keys=signing_keys(), default_portal_url=default_portal_url())
    except AlreadyIssued:
        return _print_instead_refused(patient, audience, PRINTED_ALREADY)
    except printing.PrintRefused as refused:
        return _print_instead_refused(patient, audience, refused.reason)
    except UnofficialName:
        return _render_window(patient, status=409, as_dialog=True, refusal=given_name_refusal(patient))
    return _render_window(
        patient, as_dialog=True, outcome=outcome, delivery=None, action="print", printed_instead_of=message,
        oob=is_fragment_request(),
    )


PRINTED_ALREADY = "Already issued: a new PIN was issued instead of this message already, and nothing more was issued."


@bp.app_template_global()
def mask_contact(road: str, contact) -> str:
    """The contact a Text or Email instead goes to, masked as the account page shows contacts."""
    return mask_cell(contact.cell) if road == SendBy.TEXT else mask_email(contact)


@bp.post("/patients/<id:patient_id>/messages/<id:message_id>/text-instead")
@changes_the_account
@staff_required
def text_instead(patient_id: int, message_id: int):
    """Text instead (see _send_instead)."""
    return _send_instead(patient_id, message_id, SendBy.TEXT)


@bp.post("/patients/<id:patient_id>/messages/<id:message_id>/email-instead")
@changes_the_account
@staff_required
def email_instead(patient_id: int, message_id: int):
    """Email instead (see _send_instead)."""
    return _send_instead(patient_id, message_id, SendBy.EMAIL)


def _send_instead(patient_id: int, message_id: int, road: SendBy):
    """Text instead / Email instead: a new PIN by the other road to the contact on file for this
    failed message's recipient, in place of the one that did not arrive (which it revokes), then
    the inline attempt, as an issue makes. For htmx, the portal summary with what became of it;
    without JavaScript, a redirect back to the Patient Account page. 409 (the delivery region
    says why) when a way forward was taken already, or it no longer applies; 404 for another
    practice's (or another patient's) message."""
    patient = load_patient_or_404(patient_id)
    message = _patient_message_or_404(patient, message_id)
    audience, actor, now = message.credential.audience, staff_actor(), clock()()
    ways = printing.ways_forward(db.session, message, now, practice_today(current_practice(), now),
                                 couriers().texts_through_sms_service, list_carriers(db.session))
    try:
        outcome = printing.send_instead(db.session, actor, patient=patient, message=message, road=road,
                                        ways=ways, keys=signing_keys(), default_portal_url=default_portal_url())
    except AlreadyIssued:
        return _delivery_answer(patient, audience, 409, Notice("alert", PRINTED_ALREADY))
    except printing.PrintRefused as refused:
        return _delivery_answer(patient, audience, 409, Notice("alert", refused.reason))
    except UnofficialName:
        return _delivery_answer(patient, audience, 409, Notice("alert", given_name_refusal(patient)))
    delivery = deliver_welcome_message(db.session, actor, patient.id, outcome.delivery, couriers())
    return _delivery_answer(patient, audience, 200, _sent_instead_notice(road, outcome.sent_to_masked, delivery))


def _sent_instead_notice(road: str, masked: str, delivery: WelcomeMessage) -> Notice:
    what = "text message" if road == SendBy.TEXT else "email"
    revoked = "The PIN that did not arrive was revoked."
    if delivery.left_us:
        return Notice("status", f"{what.capitalize()} sent instead: a new PIN went to {masked}. {revoked}")
    if delivery.status == "failed":
        return Notice("alert", f"A new PIN was issued, but its {what} to {masked} failed too. {revoked}")
    return Notice("status", f"A new PIN was issued and its {what} to {masked} is queued: it is tried again "
                            f"automatically. {revoked}")


def _print_instead_refused(patient: Patient, audience: str, text: str):
    """409 with the reason in the audience's delivery region: for htmx, the portal summary in
    place of the one on the page (not the dialog slot the button aims at)."""
    return render_summary(patient, 409, retarget="#portal-summary", reswap="outerHTML",
                          delivery_notices={audience: Notice("alert", text)})
