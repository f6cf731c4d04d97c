"""The Patient Registration window: open it, toggle its fields, issue a PIN or question."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, current_app, flash, g, redirect, request, url_for
from sqlalchemy import select

from blueprints.auth import audit, staff_required
from blueprints.htmx import current_htmx, trigger_client_event
from blueprints.patient_admin import RevokeNotice, account_context, get_patient_or_404
from blueprints.registration.forms import RegistrationForm, WindowContext
from blueprints.rendering import is_fragment_request, render_fragment_or_page
from extensions import db
from models import Patient, RegistrationCredential, WelcomeMessage, utcnow
from services import print_instead as printing
from services.carriers import list_carriers
from services.mail_delivery import mailer_for
from services.message_cipher import MessageCipher
from services.outbox import FAILED, RETRY_LATER, SENT, WITHDRAWN, attempt
from services.practice_time import may_receive_own_pin, practice_today
from services.registration import (
    AlreadyIssued,
    LONGEST_CREDENTIAL_ID,
    IssueRequest,
    SigningKeys,
    UnofficialName,
    deliver_welcome_message,
    issue_credential,
    needs_given_name,
    pending_credential,
    portal_url_for,
    question_link,
)
from services.welcome_messages import registration_steps, text_message_possible

bp = Blueprint("registration", __name__)

# The events a window fragment sends the page (static/js/app.js listens), once it has settled.
WINDOW_OPENED = "registration:opened"  # a new dialog: open it as a modal
WINDOW_ISSUED = "registration:issued"  # the result, shown once: {"printLetter": bool, "openPortal": bool}
WINDOW_INVALID = "registration:invalid"  # fields in error: the first one takes the focus


def _window_context(patient: Patient) -> WindowContext:
    today = practice_today(g.practice, utcnow())
    portal_url = portal_url_for(g.practice, current_app.config["PORTAL_URL"])
    return WindowContext(
        patient=patient,
        carriers=list_carriers(db.session),
        today=today,
        offers_send_to=may_receive_own_pin(patient.date_of_birth, today),
        text_fits_pin=text_message_possible(portal_url),
        text_fits_question=text_message_possible(
            portal_url,
            sample_link=question_link(portal_url, current_app.config["SECRET_KEY"], LONGEST_CREDENTIAL_ID),
        ),
    )


def _render_window(patient: Patient, status: int = 200, as_dialog: bool = False, **context):
    """The window: as a dialog fragment for htmx, inside the account page otherwise.
    A POST's fragment is the window alone (it replaces the open one), unless `as_dialog`: then
    it is the dialog itself, opened anew (Print instead, pressed on the account page)."""
    context.setdefault("form", None)
    context.setdefault("outcome", None)
    context.setdefault("refusal", None)
    context.setdefault("notice", None)
    form = context["form"]
    if form is not None:
        context["pending"] = pending_credential(db.session, patient.id, form.audience, utcnow())
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


def _refusal_for(patient: Patient) -> str | None:
    if needs_given_name(patient):
        return (
            f"{patient.first_name} is not the patient's given name. Update the basic info with the "
            "given name before issuing a PIN."
        )
    return None


@bp.get("/patients/<int:patient_id>/registration")
@staff_required
def window(patient_id: int):
    """Patient Registration window: the dialog fragment for htmx, a full page otherwise."""
    patient = get_patient_or_404(patient_id)
    refusal = _refusal_for(patient)
    if refusal:
        return _render_window(patient, refusal=refusal)
    form = RegistrationForm(_window_context(patient), formdata=None)
    form.idempotency_key.data = secrets.token_urlsafe(24)
    form.apply_audience_defaults()
    return _render_window(patient, form=form)


@bp.post("/patients/<int:patient_id>/registration/form")
@staff_required
def toggle(patient_id: int):
    """The window re-rendered for the current choices (the htmx toggles); issues nothing."""
    patient = get_patient_or_404(patient_id)
    refusal = _refusal_for(patient)
    if refusal:
        return _render_window(patient, refusal=refusal)
    form = RegistrationForm(_window_context(patient))
    # htmx names the element whose change asked for this render (the Send to fieldset's id).
    form.apply_audience_defaults(audience_changed=current_htmx().trigger == "send_to")
    form.collect_warnings()
    return _render_window(patient, form=form)


@bp.post("/patients/<int:patient_id>/registration")
@staff_required
def issue(patient_id: int):
    """Issues one PIN or question and sends it; the window shows the result once.
    422: the window with messages beside fields. 409: unofficial name, or already issued."""
    patient = get_patient_or_404(patient_id)
    refusal = _refusal_for(patient)
    if refusal:
        return _render_window(patient, status=409, refusal=refusal)
    if request.form.get("action") == "refresh":
        return toggle(patient_id)
    form = RegistrationForm(_window_context(patient))
    if not form.validate_for_issue():
        return _render_window(patient, status=422, form=form)

    issue_request = IssueRequest(
        kind=form.method.data,
        access_level=form.access.data,
        send_by=form.send_by.data,
        audience=form.audience,
        idempotency_key=form.idempotency_key.data,
        email=form.clean_email,
        cell=form.clean_cell,
        question=(form.question.data or "").strip() or None,
        answer=form.answer.data,
    )
    config = current_app.config
    try:
        outcome = issue_credential(
            db.session,
            practice=g.practice,
            patient=patient,
            staff_id=g.staff.id,
            request=issue_request,
            now=utcnow(),
            keys=SigningKeys.from_config(config),
            portal_url=portal_url_for(g.practice, config["PORTAL_URL"]),
            carrier=form.chosen_carrier,
        )
    except AlreadyIssued:
        return _already_issued_response(patient)
    except UnofficialName:
        return _render_window(patient, status=409, refusal=_refusal_for(patient))

    kind = "PIN" if outcome.pin else "verification question"
    replaced = ", replacing the pending one (revoked)" if outcome.replaced_previous else ""
    audit("issue", patient_id=patient.id,
          detail=f"{kind} {outcome.credential_id} for the {form.audience}, send by {issue_request.send_by}{replaced}")
    delivery_state = None
    if outcome.delivery is not None:
        mailer = mailer_for(config, current_app.extensions["mail"], db.session)
        delivery_state = deliver_welcome_message(db.session, outcome.delivery, mailer, utcnow)
        audit_delivery(patient.id, delivery_state, "on issue")
    action = request.form.get("action", "send")
    if action == "print":
        audit("print", patient_id=patient.id, detail=f"{kind} {outcome.credential_id} letter")
    portal_url = portal_url_for(g.practice, config["PORTAL_URL"])
    return _render_window(
        patient,
        outcome=outcome,
        delivery=delivery_state,
        action=action if action in {"print", "send", "complete"} else "send",
        desk_link=f"{portal_url}?desk={outcome.desk_token}",
        oob=is_fragment_request(),
        letter_steps=registration_steps,
    )


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


@bp.post("/patients/<int:patient_id>/messages/<int:message_id>/retry")
@staff_required
def retry(patient_id: int, message_id: int):
    """Retry: send this very welcome message again, now, while its body is still held.
    For htmx, the portal summary (the button's region takes its own part); without JavaScript, a
    redirect back to the Patient Account page. 409 when there is nothing left to send; 404 for
    another practice's (or another patient's) message."""
    patient = get_patient_or_404(patient_id)
    message = db.session.scalar(
        select(WelcomeMessage)
        .join(WelcomeMessage.credential)
        .where(
            WelcomeMessage.id == message_id,
            WelcomeMessage.practice_id == g.practice.id,
            RegistrationCredential.patient_id == patient.id,
        )
    )
    if message is None:
        abort(404)
    audience = message.credential.audience
    if message.status == "sent":
        return _delivery_answer(patient, audience, 409, RevokeNotice("alert", "Already sent: nothing to retry."))
    if not message.holds_body:
        return _delivery_answer(patient, audience, 409, RevokeNotice("alert", NO_LONGER_KEPT))
    config = current_app.config
    mailer = mailer_for(config, current_app.extensions["mail"], db.session)
    outcome = attempt(db.session, message, mailer, MessageCipher.from_config(config), utcnow)
    db.session.refresh(message)
    if outcome in (SENT, RETRY_LATER, FAILED):
        audit_delivery(patient.id, message, "retry")
    else:  # nothing was sent: someone else is sending it, or its PIN is no longer active
        audit("send", "refused", patient_id=patient.id, detail=f"message {message.id} retry: {outcome}")
    if outcome == SENT:
        return _delivery_answer(patient, audience, 200, RevokeNotice("status", "Sent."))
    if outcome == RETRY_LATER:
        text = f"Not delivered yet: {message.last_error} It stays queued and is tried again automatically."
        return _delivery_answer(patient, audience, 200, RevokeNotice("alert", text))
    if outcome == FAILED:
        return _delivery_answer(patient, audience, 200, RevokeNotice("alert", f"Not delivered: {message.last_error}"))
    if outcome == WITHDRAWN:
        return _delivery_answer(patient, audience, 409, RevokeNotice("alert", message.last_error))
    # TAKEN: a worker (or another click) is sending it at this moment.
    return _delivery_answer(patient, audience, 409, RevokeNotice("alert", "It is being sent right now; its state is shown here."))


def _delivery_answer(patient: Patient, audience: str, status: int, notice: RevokeNotice):
    if not is_fragment_request():
        flash(notice.text)
        return redirect(url_for("patient_admin.account", patient_id=patient.id))
    return render_fragment_or_page(
        "patient_admin/account.html",
        "patient_admin/_portal_summary.html",
        status,
        delivery_notices={audience: notice},
        **account_context(patient),
    )


@bp.app_template_global()
def print_instead_offered(message, now) -> bool:
    """The account page's delivery region: whether `Print instead` is offered for `message`."""
    return printing.offered(message, now)


@bp.app_template_global()
def printed_instead(credential) -> bool:
    return printing.is_printed_instead(credential)


@bp.post("/patients/<int:patient_id>/messages/<int:message_id>/print-instead")
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
    patient = get_patient_or_404(patient_id)
    message = printing.find_message(db.session, g.practice.id, patient.id, message_id)
    if message is None:
        abort(404)
    audience = message.credential.audience
    config = current_app.config
    try:
        outcome = printing.print_instead(
            db.session,
            practice=g.practice,
            patient=patient,
            message=message,
            staff_id=g.staff.id,
            now=utcnow(),
            keys=SigningKeys.from_config(config),
            portal_url=portal_url_for(g.practice, config["PORTAL_URL"]),
        )
    except AlreadyIssued:
        return _print_instead_refused(patient, audience, PRINTED_ALREADY)
    except printing.PrintRefused as refused:
        return _print_instead_refused(patient, audience, refused.reason)
    except UnofficialName:
        return _render_window(patient, status=409, as_dialog=True, refusal=_refusal_for(patient))
    audit("issue", patient_id=patient.id,
          detail=f"PIN {outcome.credential_id} for the {audience}, printed instead of message {message_id} (its PIN revoked)")
    audit("print", patient_id=patient.id, detail=f"PIN {outcome.credential_id} letter")
    return _render_window(
        patient,
        as_dialog=True,
        outcome=outcome,
        delivery=None,
        action="print",
        printed_instead_of=message,
        oob=is_fragment_request(),
        letter_steps=registration_steps,
    )


PRINTED_ALREADY = "Already issued: a PIN was printed instead of this message already, and nothing more was issued."


def _print_instead_refused(patient: Patient, audience: str, text: str):
    """409 with the reason in the audience's delivery region: for htmx, the portal summary in
    place of the one on the page (not the dialog slot the button aims at)."""
    return render_fragment_or_page(
        "patient_admin/account.html",
        "patient_admin/_portal_summary.html",
        409,
        retarget="#portal-summary", reswap="outerHTML",
        delivery_notices={audience: RevokeNotice("alert", text)},
        **account_context(patient),
    )


def audit_delivery(patient_id: int, message: WelcomeMessage, when: str) -> None:
    """The audit row of one delivery attempt: sent, or not (queued for a retry, or failed)."""
    channel = "email" if message.channel == "email" else "text message"
    if message.status == "sent":
        audit("send", patient_id=patient_id, detail=f"{channel} {message.id} sent ({when})")
    else:
        audit("send", "failure", patient_id=patient_id, detail=f"{channel} {message.id} {message.status} ({when})")
