"""Print instead on the Patient Account page (the issue: "`Print instead`
issues a fresh PIN, revoking the failed one, and prints it, since a PIN is shown only once").

What staff see (the button where it applies, the new PIN once with the print-only letter, the
account's delivery region afterwards), what an auditor checks (the old PIN revoked as replaced,
the new one Active, not sent, issued by the staff member, no message row, nothing mailed, one PIN
per press), and what the parent can do (the new PIN registers, the old one does not)."""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from blueprints.extensions import db
from models import Patient, RegistrationCredential, WelcomeMessage, utcnow
from services.actor import Actor
from services.credentials import print_instead as print_instead_service
from services.credentials.print_instead import PrintRefused
from services.credentials.redemption import FAILURE_MESSAGE
from services.credentials.registration import REPLACED_REASON, SigningKeys
from tests.support.app_settings import set_clock
from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import csrf_token_from, pin_from
from tests.support.mail import outbox_send, point_mail_at
from tests.support.network import free_port
from tests.support.portal import register
from tests.support.rows import credentials, delivery_rows
from tests.support.staff_screens import HX, account_page, issue, sign_in

PRINT_BUTTON = ">Print instead</button>"
RETRY_BUTTON = ">Retry</button>"


def print_url(patient_id: int, message_id: int) -> str:
    return f"/patients/{patient_id}/messages/{message_id}/print-instead"


def press_print_instead(client, patient_id: int, message_id: int, htmx: bool = True):
    headers = {**HX, "X-CSRFToken": client.csrf_token} if htmx else {}
    data = {} if htmx else {"csrf_token": client.csrf_token}
    return client.post(print_url(patient_id, message_id), data=data, headers=headers)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def region(page: str, audience_label: str) -> str:
    """The account page's region for one audience (its <section aria-label=…>)."""
    match = re.search(rf'<section class="credential" aria-label="{re.escape(audience_label)}">(.*?)</section>', page, re.S)
    assert match, f"no {audience_label} region"
    return match.group(1)


def failed_by_550(app, staff_client, patient_id: int, refusing_port: int, **fields):
    """Issue by email against a server that refuses the recipient (550): the message fails at
    once and its body is erased. Returns (the PIN shown, or None for a question; the message row)."""
    point_mail_at(app, MAIL_PORT=refusing_port)
    response = issue(staff_client, patient_id, **fields)
    assert response.status_code == 200
    pin = pin_from(response.get_data(as_text=True)) if fields.get("method", "pin") == "pin" else None
    [message] = [row for row in delivery_rows(app) if row.credential_id == credentials(app, patient_id)[-1].id]
    assert message.status == "failed" and message.body_encrypted is None
    return pin, message


def test_a_failed_message_is_replaced_by_a_printed_pin_shown_once(
    app, staff_client, child, refusing_server, mailbox, sink_port, caplog
):
    old_pin, message = failed_by_550(app, staff_client, child.id, refusing_server)
    point_mail_at(app, MAIL_PORT=sink_port)  # anything sent from now on would land in the mailbox

    # Staff see Failed with the server's reason; the body is gone, so no Retry; Print instead is offered.
    page = account_page(staff_client, child.id)
    guardian = region(page, "Parent/Guardian")
    assert "Failed" in guardian and "550" in guardian and "Mailbox unavailable" in guardian
    # The server's reply named the address: staff see it masked, as every contact on the page.
    assert "<d•••@example.com>: Mailbox unavailable" in html.unescape(guardian)
    assert "dana.carter@example.com" not in guardian and "dana.carter@example.com" not in message.last_error
    assert RETRY_BUTTON not in guardian and PRINT_BUTTON in guardian
    form = re.search(r'<form class="print-instead-form" method="post" action="([^"]+)"([^>]*)>', guardian)
    assert form and form.group(1) == print_url(child.id, message.id)
    assert 'hx-target="#dialog-slot"' in form.group(2) and 'hx-disabled-elt="#delivery-guardian button"' in form.group(2)
    assert 'name="csrf_token"' in guardian.split("print-instead-form")[1]

    caplog.set_level(logging.INFO, logger="services.credentials.print_instead")
    response = press_print_instead(staff_client, child.id, message.id)
    body = text(response)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store" and "HX-Request" in response.headers["Vary"]
    # The Patient Registration dialog, opened anew, showing the new PIN once in a status region.
    assert body.startswith('<dialog id="registration-dialog"') and ">Patient Registration</h2>" in body
    new_pin = pin_from(body)
    assert new_pin != old_pin
    status = re.search(r'<div id="registration-result" class="result" role="status"[^>]*>(.*?)</div>', body, re.S).group(1)
    assert new_pin in status and "Expires:" in status
    assert "Not sent: printed instead of the email to d•••@example.com, which was not delivered." in status
    assert "revoked: only this one works now" in status
    assert "Print letter again</button>" in body
    # The print-only letter, printed automatically, as Print PIN does; the PIN only here and in the status.
    dialog = body[: body.index("</dialog>")]
    letter = dialog[dialog.index('<section class="print-letter"'):]
    assert json.loads(response.headers["HX-Trigger-After-Settle"]) == {
        "registration:opened": {}, "registration:issued": {"printLetter": True, "openPortal": False},
        "history-changed": {}}  # the account page's History lists the print at once
    assert new_pin in letter and "Cedar Pediatrics" in letter and "portal.example.test/portal/register" in letter
    elsewhere = body.replace(status, "").replace(letter[: letter.index("</section>")], "")
    assert new_pin not in elsewhere and old_pin not in body
    # The portal summary comes along out of band: a PIN printed instead, no button left to press.
    summary = body[body.index("</dialog>") + len("</dialog>"):]
    assert summary.lstrip().startswith('<section id="portal-summary"') and 'hx-swap-oob="true"' in summary
    assert re.search(r"Welcome message:\s+Not sent \(printed instead\)", summary) and PRINT_BUTTON not in summary
    assert new_pin not in summary

    # The auditor's view: the failed PIN revoked as replaced, the new one Active and never sent.
    old, new = credentials(app, child.id)
    assert old.revoked_at is not None and old.revoked_reason == REPLACED_REASON
    assert new.kind == "pin" and new.send_by == "none" and new.sent_to_masked is None
    assert (new.audience, new.access_level) == (old.audience, old.access_level)
    assert new.revoked_at is None and new.used_at is None and new.expires_at > utcnow()
    assert new.issued_by_id == old.issued_by_id is not None
    assert new.idempotency_key == f"print-instead-{message.id}"
    [row] = delivery_rows(app)  # no welcome message for the printed PIN
    assert row.id == message.id and row.status == "failed" and "Mailbox unavailable" in row.last_error
    assert mailbox.messages == []
    assert "Not sent (printed instead)" in account_page(staff_client, child.id)
    # The log says who replaced which, by ids, and never the PIN.
    [record] = [r for r in caplog.records if r.name == "services.credentials.print_instead"]
    assert f"welcome message {message.id}" in record.getMessage() and f"credential {new.id}" in record.getMessage()
    for pin in (new_pin, old_pin):
        assert pin not in caplog.text and pin.replace("-", "") not in caplog.text

    # The parent: the failed PIN no longer registers; the printed one does.
    parent = app.test_client()
    refused = register(parent, old_pin, "2018-05-17")
    assert refused.status_code == 422 and FAILURE_MESSAGE in text(refused)
    assert register(parent, new_pin, "2018-05-17").status_code == 303
    assert "Portal status: <strong>Registered</strong>" in account_page(staff_client, child.id)


def test_a_double_press_issues_one_pin_and_the_second_gets_409_already_issued(
    app, staff_client, child, refusing_server, mailbox
):
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    first = press_print_instead(staff_client, child.id, message.id)
    assert first.status_code == 200
    first_pin = pin_from(first.get_data(as_text=True))

    again = press_print_instead(staff_client, child.id, message.id)
    body = text(again)
    assert again.status_code == 409 and "Already issued" in body
    assert not re.search(r'class="pin">', body) and first_pin not in body  # never shown again
    # htmx puts the notice in the delivery region (the button aimed at the dialog slot).
    assert again.headers["HX-Retarget"] == "#portal-summary" and again.headers["HX-Reswap"] == "outerHTML"
    assert body.lstrip().startswith('<section id="portal-summary"') and 'role="alert"' in body

    resent = press_print_instead(staff_client, child.id, message.id, htmx=False)  # a resent form
    assert resent.status_code == 409 and "<html" in text(resent) and "Already issued" in text(resent)
    assert "HX-Retarget" not in resent.headers

    old, new = credentials(app, child.id)  # exactly one new credential
    assert old.revoked_reason == REPLACED_REASON and new.revoked_at is None and new.used_at is None


def test_without_javascript_the_post_answers_the_account_page_with_the_window_open(
    app, staff_client, child, refusing_server, mailbox
):
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    response = press_print_instead(staff_client, child.id, message.id, htmx=False)
    body = text(response)
    assert response.status_code == 200 and "<html" in body and "<dialog open" in body
    pin = pin_from(body)
    assert pin in body[body.index('class="print-letter"'):]
    assert "HX-Trigger-After-Settle" not in response.headers  # a page load prints nothing by itself
    assert "Not sent (printed instead)" in body and 'hx-swap-oob' not in body
    assert "HX-Request" in response.headers["Vary"]
    # The PIN is behind no URL: a GET is refused, and the account page does not show it.
    assert staff_client.get(print_url(child.id, message.id)).status_code == 405
    assert pin not in account_page(staff_client, child.id)


def test_a_queued_message_offers_retry_and_print_instead_and_is_withdrawn_by_it(
    app, staff_client, child, mailbox, sink_port
):
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens: the message stays queued
    issue(staff_client, child.id)
    [message] = delivery_rows(app)
    assert message.status == "queued" and message.body_encrypted
    guardian = region(account_page(staff_client, child.id), "Parent/Guardian")
    assert "Queued" in guardian and RETRY_BUTTON in guardian and PRINT_BUTTON in guardian
    assert 'hx-select="unset"' in guardian  # the polling region's hx-select is not inherited
    assert "Print instead revokes this PIN, so its message is never sent" in guardian

    assert press_print_instead(staff_client, child.id, message.id).status_code == 200
    [message] = delivery_rows(app)
    assert message.status == "failed" and message.body_encrypted is None and "replaced" in message.last_error
    # The worker never sends the replaced PIN, even once the mail server is back.
    point_mail_at(app, MAIL_PORT=sink_port)
    set_clock(app, utcnow() + timedelta(hours=3))
    assert "sent: 0" in outbox_send(app) and mailbox.messages == []


def test_a_failed_verification_question_is_replaced_by_a_pin_with_the_same_access(
    app, staff_client, child, refusing_server, mailbox
):
    _, message = failed_by_550(
        app, staff_client, child.id, refusing_server,
        method="question", question="Name of the first pet?", answer="Biscuit", access="limited",
    )
    [old] = credentials(app, child.id)
    assert old.kind == "question"
    guardian = region(account_page(staff_client, child.id), "Parent/Guardian")
    assert "use Print instead: it revokes this verification question and prints a new PIN" in guardian
    body = text(press_print_instead(staff_client, child.id, message.id))
    assert pin_from(body) and "PIN issued for the Parent/Guardian" in body
    old, new = credentials(app, child.id)
    assert old.revoked_reason == REPLACED_REASON
    assert (new.kind, new.access_level, new.audience, new.send_by) == ("pin", "limited", "guardian", "none")
    assert new.question is None and new.answer_hash is None


def test_a_sent_message_gets_neither_button_and_is_refused(app, staff_client, child, mailbox):
    pin = pin_from(issue(staff_client, child.id).get_data(as_text=True))
    [message] = delivery_rows(app)
    assert message.status == "sent"
    guardian = region(account_page(staff_client, child.id), "Parent/Guardian")
    assert "Sent" in guardian and PRINT_BUTTON not in guardian and RETRY_BUTTON not in guardian
    refused = press_print_instead(staff_client, child.id, message.id)
    assert refused.status_code == 409 and "Already sent" in text(refused)
    [credential] = credentials(app, child.id)
    assert credential.revoked_at is None and pin not in text(refused)


@pytest.mark.parametrize("state", ["Used", "Revoked", "Locked"])
def test_used_revoked_or_locked_pins_are_not_printed_instead(app, staff_client, child, refusing_server, mailbox, state):
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    values = {
        "Used": {"used_at": utcnow()},
        "Revoked": {"revoked_at": utcnow(), "revoked_reason": "Parent moved away"},
        "Locked": {"failed_attempts": 5},
    }[state]
    with app.app_context():
        db.session.execute(update(RegistrationCredential).values(**values))
        db.session.commit()
        db.session.remove()
    guardian = region(account_page(staff_client, child.id), "Parent/Guardian")
    assert f">{state}</span>" in guardian and "Failed" in guardian and PRINT_BUTTON not in guardian
    refused = press_print_instead(staff_client, child.id, message.id)
    assert refused.status_code == 409 and f"that PIN is {state}" in text(refused)
    assert len(credentials(app, child.id)) == 1


def test_an_expired_undelivered_pin_can_be_printed_instead(app, staff_client, child, refusing_server, mailbox):
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    with app.app_context():
        db.session.execute(
            update(RegistrationCredential).values(
                issued_at=utcnow() - timedelta(days=10), expires_at=utcnow() - timedelta(days=3)
            )
        )
        db.session.commit()
        db.session.remove()
    guardian = region(account_page(staff_client, child.id), "Parent/Guardian")
    assert ">Expired</span>" in guardian and PRINT_BUTTON in guardian
    assert press_print_instead(staff_client, child.id, message.id).status_code == 200
    old, new = credentials(app, child.id)
    assert old.revoked_reason == REPLACED_REASON and new.expires_at > utcnow()


def test_a_stale_page_never_revokes_a_pin_issued_since(app, staff_client, child, refusing_server, mailbox, sink_port):
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    point_mail_at(app, MAIL_PORT=sink_port)
    newer_pin = pin_from(issue(staff_client, child.id).get_data(as_text=True))  # from another screen
    refused = press_print_instead(staff_client, child.id, message.id)
    assert refused.status_code == 409 and "a newer PIN or question has been issued" in text(refused)
    old, newer = credentials(app, child.id)
    assert newer.revoked_at is None and len(mailbox.messages) == 1
    assert newer_pin not in text(refused)


def test_the_replaced_pin_is_checked_again_under_the_patients_lock(
    app, staff_client, child, practice, refusing_server, monkeypatch
):
    """Between the first checks and the issue, the failed PIN may be revoked (or redeemed) at
    another desk: the issue itself then refuses, under the patient's lock, and issues nothing."""
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    checks = []

    def revoked_right_after_the_check(session, row, now, road="none"):
        checks.append(row.id)
        if len(checks) == 1:  # the race: revoked after the check said "printable"
            session.execute(
                update(RegistrationCredential)
                .where(RegistrationCredential.id == row.credential_id)
                .values(revoked_at=now, revoked_reason="Revoked at the other desk")
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return None
        return real_refusal(session, row, now, road)

    real_refusal = print_instead_service.refusal
    monkeypatch.setattr(print_instead_service, "refusal", revoked_right_after_the_check)
    with app.test_request_context():
        with pytest.raises(PrintRefused) as refused:
            print_instead_service.print_instead(
                db.session,
                Actor(practice.id),
                patient=db.session.get(Patient, child.id),
                message=db.session.get(WelcomeMessage, message.id),
                keys=SigningKeys.from_config(app.config),
                default_portal_url=app.config["PORTAL_URL"],
            )
        db.session.remove()
    assert refused.value.reason == "Not printed: that PIN is Revoked. Use Register Patient to issue a new PIN."
    [credential] = credentials(app, child.id)  # nothing issued, the other desk's reason kept
    assert credential.revoked_reason == "Revoked at the other desk"


def test_a_patient_who_now_needs_a_given_name_is_refused_like_the_window(app, staff_client, child, refusing_server, mailbox):
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    with app.app_context():
        db.session.execute(update(Patient).where(Patient.id == child.id).values(name_is_unofficial=True))
        db.session.commit()
        db.session.remove()
    refused = press_print_instead(staff_client, child.id, message.id)
    body = text(refused)
    assert refused.status_code == 409 and body.startswith("<dialog") and "given name" in body
    assert ">Update Basic Info</a>" in body and not re.search(r'class="pin">', body)
    plain = press_print_instead(staff_client, child.id, message.id, htmx=False)
    assert plain.status_code == 409 and "<html" in text(plain) and "given name" in text(plain)
    [credential] = credentials(app, child.id)
    assert credential.revoked_at is None


def test_print_instead_is_scoped_to_the_practice_and_the_patient(app, staff_client, child, practice, other_practice, refusing_server):
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    sibling = make_patient(app, practice, "Noah", "Carter", date(2019, 3, 3))
    # Another patient of the same practice: the message is not theirs.
    assert press_print_instead(staff_client, sibling.id, message.id).status_code == 404
    # Another practice's staff: neither the patient nor the message exists for them.
    theirs = make_patient(app, other_practice, "Liam", "Okafor", date(2016, 2, 1))
    make_staff(app, other_practice, "blake")
    other = app.test_client()
    assert sign_in(other, "blake").status_code == 302
    other.csrf_token = csrf_token_from(other.get("/patients").get_data(as_text=True))
    assert press_print_instead(other, child.id, message.id).status_code == 404
    assert press_print_instead(other, theirs.id, message.id).status_code == 404
    # No CSRF token, or a GET: refused.
    assert staff_client.post(print_url(child.id, message.id), headers=HX).status_code == 400
    assert staff_client.get(print_url(child.id, message.id), headers=HX).status_code == 405
    [credential] = credentials(app, child.id)
    assert credential.revoked_at is None
    with app.app_context():
        assert db.session.scalar(select(RegistrationCredential).where(RegistrationCredential.patient_id == theirs.id)) is None
        db.session.remove()


@pytest.mark.parametrize("crafted", ["print-instead-{id}", "text-instead-{id}", "email-instead-{id}",
                                     "print-instead-{id}".ljust(32, "0"), "k" * 31, "k" * 33, "k" * 31 + "!", ""])
def test_a_window_key_of_another_form_is_refused_and_print_instead_still_works(
    app, staff_client, child, refusing_server, sink_port, crafted
):
    """The window's key comes back from the browser: one shaped like a way forward's would make
    that button answer "Already issued" for good."""
    _, message = failed_by_550(app, staff_client, child.id, refusing_server)
    point_mail_at(app, MAIL_PORT=sink_port)
    before = len(credentials(app, child.id))
    refused = issue(staff_client, child.id, key=crafted.format(id=message.id))
    assert refused.status_code == 422
    assert "This window has expired. Close it and open Register Patient again." in text(refused)
    assert len(credentials(app, child.id)) == before

    printed = press_print_instead(staff_client, child.id, message.id)
    assert printed.status_code == 200 and pin_from(printed.get_data(as_text=True))
    assert len(credentials(app, child.id)) == before + 1
