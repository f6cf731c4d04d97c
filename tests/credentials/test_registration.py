"""The Patient Registration window through the test client: toggles, validation, issuing,
mail on a real SMTP server, idempotency and the unofficial-name guard."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import RegistrationCredential, WelcomeMessage
from services.credentials.pins import PIN_ALPHABET, normalize_pin_entry, secret_matches
from services.delivery.welcome_messages import gsm7_length
from tests.support.app_settings import PORTAL_URL
from tests.support.builders import make_patient
from tests.support.html_readers import idempotency_key_from, pin_from
from tests.support.mail import text_of
from tests.support.rows import credentials
from tests.support.staff_screens import HX, issue, open_window


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


@pytest.fixture
def teen(app, practice):
    return make_patient(
        app, practice, "Sofía", "Núñez", date(2012, 3, 14),
        guardian_email="maria.nunez@example.com", guardian_cell="6175550143",
    )


def control_tag(body: str, control_id: str) -> str:
    match = re.search(rf'<(?:input|select)\b[^>]*\bid="{control_id}"[^>]*>', body)
    assert match, f"no control #{control_id}"
    return match.group(0)


def is_disabled(body: str, control_id: str) -> bool:
    return re.search(r"\sdisabled[\s>=]", control_tag(body, control_id)) is not None


def is_checked(body: str, control_id: str) -> bool:
    return re.search(r"\schecked[\s>=]", control_tag(body, control_id)) is not None


def test_window_is_a_dialog_with_the_seed_fields_and_defaults(staff_client, child):
    body = open_window(staff_client, child.id)
    assert body.startswith("<dialog") and ">Patient Registration</h2>" in body
    assert is_checked(body, "method-0") and 'for="method-0">PIN<' in body
    assert is_checked(body, "access-0") and 'for="access-0">Full Access<' in body
    assert is_checked(body, "send_by-0") and 'for="send_by-0">Email Address<' in body
    assert 'value="dana.carter@example.com"' in control_tag(body, "email")  # the guardian's email
    assert is_disabled(body, "cell") and is_disabled(body, "carrier") and not is_disabled(body, "email")
    for label in ("Print PIN", "Send PIN / Verification Question", "Complete / Log In", "Cancel"):
        assert f">{label}</button>" in body
    assert "Send to" not in body  # Emma is 8


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_send_to_appears_from_the_twelfth_birthday_in_the_practice_time_zone(app, client, zone):
    """UTC+14 and UTC-11: for most of every day the practice's date differs from UTC's, so a
    server that used the UTC date would show Send to a day early or late."""
    from zoneinfo import ZoneInfo

    from tests.support.builders import make_practice, make_staff
    from tests.support.staff_screens import sign_in

    far = make_practice(app, "Far Away Pediatrics", timezone=zone)
    make_staff(app, far, username="sam")
    sign_in(client, username="sam")
    today_there = datetime.now(ZoneInfo(zone)).date()
    try:
        twelve_today = today_there.replace(year=today_there.year - 12)
    except ValueError:  # 29 February
        twelve_today = today_there.replace(year=today_there.year - 12, day=28)
    birthday = make_patient(app, far, "Ava", "Okafor", twelve_today)
    eve = make_patient(app, far, "Ben", "Okafor", twelve_today + timedelta(days=1))
    assert "<legend>Send to</legend>" in open_window(client, birthday.id)
    assert "Send to" not in open_window(client, eve.id)


@pytest.mark.parametrize(
    "fields, enabled, disabled",
    [
        ({"send_by": "text"}, ["cell", "carrier"], ["email"]),
        ({"send_by": "none"}, [], ["email", "cell", "carrier"]),
        ({"send_by": "email"}, ["email"], ["cell", "carrier"]),
    ],
)
def test_send_by_toggle_is_rendered_by_the_server(staff_client, child, fields, enabled, disabled):
    response = staff_client.post(
        f"/patients/{child.id}/registration/form",
        data={"method": "pin", "access": "full", **fields},
        headers={**HX, "X-CSRFToken": staff_client.csrf_token},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.startswith('<div id="registration-window"')
    for name in enabled:
        assert not is_disabled(body, name), name
    for name in disabled:
        assert is_disabled(body, name), name
    assert credentials(staff_client.application, child.id) == []


def test_verification_question_toggle_shows_question_and_answer(staff_client, child):
    body = staff_client.post(
        f"/patients/{child.id}/registration/form",
        data={"method": "question", "access": "full", "send_by": "email"},
        headers={**HX, "X-CSRFToken": staff_client.csrf_token},
    ).get_data(as_text=True)
    assert 'for="question">Question<' in body and 'for="answer">Answer<' in body
    plain = open_window(staff_client, child.id)
    assert 'for="question"' not in plain


def toggle(client, patient_id: int, trigger: str, **fields) -> str:
    data = {"method": "pin", "access": "full", "send_by": "email", **fields}
    headers = {**HX, "HX-Trigger": trigger, "X-CSRFToken": client.csrf_token}
    response = client.post(f"/patients/{patient_id}/registration/form", data=data, headers=headers)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_choosing_minor_clears_the_guardians_contact(staff_client, teen):
    assert 'value="maria.nunez@example.com"' in control_tag(open_window(staff_client, teen.id), "email")
    minor = toggle(staff_client, teen.id, "send_to", send_to="minor", email="maria.nunez@example.com")
    assert "maria.nunez@example.com" not in minor
    back = toggle(staff_client, teen.id, "send_to", send_to="guardian", email="")
    assert 'value="maria.nunez@example.com"' in control_tag(back, "email")


def test_minor_contact_equal_to_the_guardians_brings_a_warning_not_a_refusal(app, staff_client, teen, mailbox):
    key = idempotency_key_from(open_window(staff_client, teen.id))
    typed = toggle(staff_client, teen.id, "email", send_to="minor", email="Maria.Nunez@example.com")
    assert 'value="Maria.Nunez@example.com"' in control_tag(typed, "email")  # kept, not cleared
    warning = re.search(r'<p class="warning" id="email-warning">([^<]+)</p>', typed)
    assert warning and "guardian's email on file" in warning.group(1)
    assert "email-warning" in control_tag(typed, "email")  # aria-describedby points at it
    other = toggle(staff_client, teen.id, "email", send_to="minor", email="sofia@example.com")
    assert "email-warning" not in other

    response = issue(staff_client, teen.id, key=key, send_to="minor", email="maria.nunez@example.com")
    assert response.status_code == 200 and pin_from(response.get_data(as_text=True))
    [credential] = credentials(app, teen.id)
    assert credential.audience == "minor"


def test_issue_by_email_shows_the_pin_once_and_mails_the_same_pin(app, staff_client, child, mailbox):
    response = issue(staff_client, child.id)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    pin = pin_from(body)
    assert re.fullmatch(rf"[{PIN_ALPHABET}]{{4}}-[{PIN_ALPHABET}]{{4}}", pin)
    assert 'role="status"' in body and "Expires:" in body
    assert "Sent by email to d•••@example.com" in body

    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == "dana.carter@example.com"
    text = text_of(message)
    assert pin in text and PORTAL_URL in text and "Cedar Pediatrics" in text and "expires" in text
    assert message.get_body(preferencelist=("html",)) is not None  # multipart: text + HTML

    [credential] = credentials(app, child.id)
    assert credential.pin_hash and pin.replace("-", "") not in credential.pin_hash
    assert secret_matches(credential.pin_hash, normalize_pin_entry(pin))
    assert credential.expires_at - credential.issued_at == timedelta(days=7)
    with app.app_context():
        delivery = db.session.scalar(select(WelcomeMessage).where(WelcomeMessage.credential_id == credential.id))
        assert delivery.status == "sent" and delivery.sent_at is not None

    account = staff_client.get(f"/patients/{child.id}").get_data(as_text=True)
    assert "Portal status: <strong>Pending</strong>" in account
    assert pin not in account  # shown once, never again


def test_issue_by_text_sends_one_gsm7_segment_naming_no_patient(app, staff_client, teen, mailbox):
    with app.app_context():
        from services.delivery.carriers import find_carrier_by_name

        verizon = find_carrier_by_name(db.session, "Verizon").id
    response = issue(staff_client, teen.id, send_by="text", cell="(617) 555-0199", carrier=str(verizon))
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    pin = pin_from(body)
    [message] = mailbox.messages
    assert message["X-Envelope-To"] == "6175550199@vtext.com"
    assert message["Subject"] in (None, "")
    sms = text_of(message).strip()
    assert pin in sms and PORTAL_URL in sms
    assert gsm7_length(sms) is not None and gsm7_length(sms) <= 160
    for name in ("Sofía", "Sofia", "Núñez", "Nunez"):
        assert name not in sms


def test_a_shut_down_carrier_is_listed_disabled_and_refused_with_alternatives(app, staff_client, teen, mailbox):
    with app.app_context():
        from services.delivery.carriers import find_carrier_by_name

        att = find_carrier_by_name(db.session, "AT&T").id
    body = open_window(staff_client, teen.id)
    assert re.search(rf'<option disabled value="{att}">AT&amp;T \(service ended\)</option>', body)
    response = issue(staff_client, teen.id, send_by="text", cell="6175550199", carrier=str(att))
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "shut down" in text and "Email Address" in text and "Verizon" in text
    assert credentials(app, teen.id) == [] and mailbox.messages == []


@pytest.mark.parametrize(
    "fields, field_id, message",
    [
        ({"email": "not-an-email"}, "email", "Enter the whole email address"),
        ({"email": ""}, "email", "Enter the email address"),
        ({"email": "a@example.com\r\nBcc: x@evil.test"}, "email", "one line"),
        ({"send_by": "text", "cell": "12345", "carrier": ""}, "cell", "US cell phone"),
        ({"send_by": "text", "cell": "6175550199", "carrier": ""}, "carrier", "Choose the cell carrier"),
        ({"method": "question", "question": "", "answer": ""}, "question", "Enter the question"),
    ],
)
def test_invalid_input_is_422_with_the_message_beside_its_field(app, staff_client, child, mailbox, fields, field_id, message):
    response = issue(staff_client, child.id, **fields)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(rf'<p class="error" id="{field_id}-error">([^<]+)</p>', body)
    assert error and message in html.unescape(error.group(1))
    assert f'aria-describedby="{field_id}-error"' in body or f'aria-describedby="{field_id}-hint {field_id}-error"' in body
    assert credentials(app, child.id) == [] and mailbox.messages == []


def test_do_not_send_issues_without_sending(app, staff_client, child, mailbox):
    body = issue(staff_client, child.id, send_by="none").get_data(as_text=True)
    assert pin_from(body) and "Not sent" in body
    assert mailbox.messages == []
    [credential] = credentials(app, child.id)
    assert credential.send_by == "none"


def test_print_pin_issues_sends_and_carries_a_print_only_letter(app, staff_client, child, mailbox):
    body = issue(staff_client, child.id, action="print").get_data(as_text=True)
    pin = pin_from(body)
    letter = body[body.index('class="print-letter"'):]
    assert pin in letter and PORTAL_URL in letter and "Cedar Pediatrics" in letter and "expires" in letter
    assert len(mailbox.messages) == 1


def test_complete_log_in_offers_the_portal_page_in_a_new_tab(app, staff_client, child, mailbox):
    body = issue(staff_client, child.id, action="complete").get_data(as_text=True)
    link = re.search(r'<a id="portal-link"[^>]*href="([^"]+)"[^>]*target="_blank"', body)
    assert link and html.unescape(link.group(1)).startswith(PORTAL_URL + "?practice=cedar-pediatrics&desk=")
    assert len(mailbox.messages) == 1


def test_a_second_submission_of_the_same_window_issues_nothing_more(app, staff_client, child, mailbox):
    key = idempotency_key_from(open_window(staff_client, child.id))
    first = issue(staff_client, child.id, key=key)
    assert first.status_code == 200
    for action in ("send", "print", "complete"):
        again = issue(staff_client, child.id, key=key, action=action)
        assert again.status_code == 409
        assert "Already issued" in again.get_data(as_text=True)
        assert again.headers["HX-Retarget"] == "#registration-notice"
    assert len(credentials(app, child.id)) == 1 and len(mailbox.messages) == 1


def test_a_pending_pin_is_announced_and_then_replaced(app, staff_client, child, mailbox):
    first_pin = pin_from(issue(staff_client, child.id).get_data(as_text=True))
    window = html.unescape(open_window(staff_client, child.id))
    assert "is pending" in window and "d•••@example.com" in window and "revokes it" in window
    second = issue(staff_client, child.id).get_data(as_text=True)
    assert pin_from(second) != first_pin
    old, new = credentials(app, child.id)
    assert old.revoked_at is not None and old.revoked_reason
    assert new.revoked_at is None


def test_verification_question_is_issued_with_a_link_and_a_hashed_answer(app, staff_client, child, mailbox):
    body = issue(
        staff_client, child.id, method="question", question="Name of the first pet?", answer="  Rex  "
    ).get_data(as_text=True)
    assert "Verification question issued" in body
    [credential] = credentials(app, child.id)
    assert credential.kind == "question" and credential.answer_hash and "rex" not in credential.answer_hash.lower()
    assert secret_matches(credential.answer_hash, "rex")
    assert f"{PORTAL_URL}?practice=cedar-pediatrics&vq=" in text_of(mailbox.messages[0])


@pytest.mark.parametrize("first", ["Baby Boy", "baby  girl", "Twin A", "Newborn"])
def test_unofficial_names_are_refused_until_basic_info_is_updated(app, staff_client, practice, mailbox, first):
    baby = make_patient(app, practice, first, "Núñez", date.today() - timedelta(days=3))
    window = open_window(staff_client, baby.id)
    assert "given name" in window and ">Update Basic Info</a>" in window
    assert 'id="registration-form"' not in window
    refused = issue(staff_client, baby.id, key="k" * 32)
    assert refused.status_code == 409 and "given name" in refused.get_data(as_text=True)
    assert credentials(app, baby.id) == [] and mailbox.messages == []

    saved = staff_client.post(
        f"/patients/{baby.id}/basic-info",
        data={"first_name": "Mateo", "last_name": "Núñez"},
        headers={"X-CSRFToken": staff_client.csrf_token},
    )
    assert saved.status_code == 302
    assert issue(staff_client, baby.id).status_code == 200


def test_flagged_unofficial_name_is_refused_and_basic_info_lifts_the_flag(app, staff_client, practice):
    flagged = make_patient(app, practice, "Luna", "Reyes", date(2025, 1, 1), name_is_unofficial=True)
    assert issue(staff_client, flagged.id, key="k" * 32).status_code == 409
    staff_client.post(
        f"/patients/{flagged.id}/basic-info",
        data={"first_name": "Luna", "last_name": "Reyes"},
        headers={"X-CSRFToken": staff_client.csrf_token},
    )
    assert issue(staff_client, flagged.id).status_code == 200


def test_basic_info_refuses_a_placeholder(staff_client, practice, app):
    baby = make_patient(app, practice, "Baby Girl", "Reyes", date(2026, 1, 1))
    response = staff_client.post(
        f"/patients/{baby.id}/basic-info",
        data={"first_name": "Baby", "last_name": "Reyes"},
        headers={"X-CSRFToken": staff_client.csrf_token},
    )
    assert response.status_code == 422 and "given name" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(app, staff_client, child, mailbox):
    key = idempotency_key_from(open_window(staff_client, child.id))
    response = staff_client.post(
        f"/patients/{child.id}/registration",
        data={"method": "pin", "access": "full", "send_by": "email", "idempotency_key": key},
        headers=HX,
    )
    assert response.status_code == 400
    assert credentials(app, child.id) == [] and mailbox.messages == []


def test_full_page_fallback_without_javascript(app, staff_client, child, mailbox):
    page = staff_client.get(f"/patients/{child.id}/registration").get_data(as_text=True)
    assert "<html" in page and "<dialog open" in page and "Register Patient" in page
    key = idempotency_key_from(page)
    response = staff_client.post(
        f"/patients/{child.id}/registration",
        data={"method": "pin", "access": "full", "send_by": "email", "email": "dana.carter@example.com",
              "action": "send", "idempotency_key": key, "csrf_token": staff_client.csrf_token},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in body and pin_from(body)
    assert "HX-Request" in response.headers["Vary"]


def test_status_is_derived_from_the_pin_pending_then_unregistered_once_expired(app, staff_client, child, mailbox):
    issue(staff_client, child.id)
    pending = staff_client.get("/patients?status=pending", headers=HX).get_data(as_text=True)
    assert "Carter, Emma" in pending
    with app.app_context():
        credential = db.session.scalar(select(RegistrationCredential))
        credential.issued_at = datetime.now(UTC) - timedelta(days=10)
        credential.expires_at = datetime.now(UTC) - timedelta(days=3)
        db.session.commit()
    assert "Carter, Emma" not in staff_client.get("/patients?status=pending", headers=HX).get_data(as_text=True)
    assert "Carter, Emma" in staff_client.get("/patients?status=unregistered", headers=HX).get_data(as_text=True)
    account = staff_client.get(f"/patients/{child.id}").get_data(as_text=True)
    assert "Portal status: <strong>Unregistered</strong>" in account
    assert ">Expired</span>" in account  # the PIN's own state, beside it


def test_a_second_submission_without_javascript_gets_409_and_the_notice(app, staff_client, child, mailbox):
    key = idempotency_key_from(open_window(staff_client, child.id))
    data = {"method": "pin", "access": "full", "send_by": "email", "email": "dana.carter@example.com",
            "action": "send", "idempotency_key": key, "csrf_token": staff_client.csrf_token}
    assert staff_client.post(f"/patients/{child.id}/registration", data=data).status_code == 200
    again = staff_client.post(f"/patients/{child.id}/registration", data=data)
    body = again.get_data(as_text=True)
    assert again.status_code == 409 and "<html" in body and "Already issued" in body
    assert "HX-Retarget" not in again.headers
    assert len(credentials(app, child.id)) == 1 and len(mailbox.messages) == 1


def test_409_and_422_responses_vary_on_hx_request(staff_client, child, mailbox):
    key = idempotency_key_from(open_window(staff_client, child.id))
    invalid = issue(staff_client, child.id, key=key, email="nope")
    assert invalid.status_code == 422 and "HX-Request" in invalid.headers["Vary"]
    issue(staff_client, child.id, key=key)
    repeat = issue(staff_client, child.id, key=key)
    assert repeat.status_code == 409 and "HX-Request" in repeat.headers["Vary"]


def test_a_question_by_text_is_refused_when_its_link_cannot_fit(app, practice, mailbox):
    from tests.support.builders import make_practice, make_staff
    from tests.support.staff_screens import sign_in

    long_url = "https://portal.example.test/" + "p" * 80 + "/register"  # a PIN fits; a link does not
    wordy = make_practice(app, "Wordy Pediatrics", portal_url=long_url)
    make_staff(app, wordy, username="wren")
    client = app.test_client()
    sign_in(client, username="wren")
    from tests.support.html_readers import csrf_token_from

    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    patient = make_patient(app, wordy, "Noah", "Stone", date(2015, 2, 2))
    with app.app_context():
        from services.delivery.carriers import find_carrier_by_name

        verizon = str(find_carrier_by_name(db.session, "Verizon").id)
    refused = issue(client, patient.id, method="question", question="Pet?", answer="Rex",
                    send_by="text", cell="6175550199", carrier=verizon)
    assert refused.status_code == 422 and "too long for a text message" in refused.get_data(as_text=True)
    assert credentials(app, patient.id) == [] and mailbox.messages == []
    sent = issue(client, patient.id, send_by="text", cell="6175550199", carrier=verizon)
    assert sent.status_code == 200 and gsm7_length(text_of(mailbox.messages[0]).strip()) <= 160


def test_an_international_address_is_refused_by_the_form_not_a_500(app, staff_client, child, mailbox):
    response = issue(staff_client, child.id, email="josé@example.com")
    assert response.status_code == 422
    assert credentials(app, child.id) == [] and mailbox.messages == []


def test_issuing_over_an_expired_pin_revokes_it(app, staff_client, child, mailbox):
    issue(staff_client, child.id)
    with app.app_context():
        old = db.session.scalar(select(RegistrationCredential))
        old.issued_at = datetime.now(UTC) - timedelta(days=10)
        old.expires_at = datetime.now(UTC) - timedelta(days=3)
        db.session.commit()
    assert issue(staff_client, child.id).status_code == 200
    first, second = credentials(app, child.id)
    assert first.revoked_at is not None and second.revoked_at is None


def test_toggle_and_basic_info_of_another_practices_patient_are_404(app, staff_client, other_practice):
    stranger = make_patient(app, other_practice, "Noah", "Stone")
    headers = {**HX, "X-CSRFToken": staff_client.csrf_token}
    assert staff_client.post(f"/patients/{stranger.id}/registration/form", data={}, headers=headers).status_code == 404
    response = staff_client.post(f"/patients/{stranger.id}/basic-info", data={"first_name": "X", "last_name": "Y"}, headers=headers)
    assert response.status_code == 404
    with app.app_context():
        from models import Patient

        assert db.session.get(Patient, stranger.id).first_name == "Noah"
