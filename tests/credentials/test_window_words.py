"""Issue 14 through the test client: the Print letter record, the line saying what will happen,
the word for a Registered patient, and a submission checked in full whatever the field checks did."""

from __future__ import annotations

import html
from datetime import date

from sqlalchemy import select

from blueprints.extensions import db
from models import AuditEvent, Carrier, PortalLink, PortalUser
from tests.support.builders import make_patient
from tests.support.rows import credentials
from tests.support.staff_screens import HX, issue, open_window


def _prints(app, patient_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.patient_id == patient_id, AuditEvent.action == "print")
        ))


def test_print_letter_after_a_send_is_recorded_for_that_pin_only(app, staff_client, practice, mailbox):
    child = make_patient(app, practice, guardian_email="dana.carter@example.com")
    other = make_patient(app, practice, "Liam", "Reyes")
    assert issue(staff_client, child.id).status_code == 200
    [pin] = credentials(app, child.id)
    url = f"/patients/{child.id}/credentials/{pin.id}/letter-printed"
    assert staff_client.post(url, headers=HX).status_code == 400  # no CSRF token
    assert _prints(app, child.id) == []
    response = staff_client.post(url, headers={**HX, "X-CSRFToken": staff_client.csrf_token})
    assert response.status_code == 204
    assert _prints(app, child.id) == [f"PIN {pin.id} letter"]
    # Another patient's path to this PIN finds nothing to record.
    elsewhere = f"/patients/{other.id}/credentials/{pin.id}/letter-printed"
    assert staff_client.post(elsewhere, headers={**HX, "X-CSRFToken": staff_client.csrf_token}).status_code == 404
    assert _prints(app, other.id) == []


def test_the_window_says_what_will_happen_and_who_is_registered(app, staff_client, practice):
    teen = make_patient(app, practice, "Sofía", "Núñez", guardian_email="maria.nunez@example.com", guardian_cell="6175550143")
    body = html.unescape(open_window(staff_client, teen.id))
    assert "Emails a PIN to m•••@example.com. Print PIN also prints it." in body
    assert "Already registered" not in body
    with app.app_context():
        user = PortalUser(practice_id=practice.id, email="maria.nunez@example.com")
        db.session.add(user)
        db.session.flush()
        db.session.add(PortalLink(portal_user_id=user.id, patient_id=teen.id, access_level="full"))
        db.session.commit()
    body = html.unescape(open_window(staff_client, teen.id))
    assert "Already registered: m•••@example.com has a portal account for this patient." in body
    assert 'value="(617) 555-0143"' in body
    imported = make_patient(app, practice, "Noah", "Reyes", imported_portal_status="registered")
    body = html.unescape(open_window(staff_client, imported.id))
    assert "Already registered: the previous system lists a portal account for this patient." in body
    toggled = staff_client.post(
        f"/patients/{teen.id}/registration/form", headers={**HX, "X-CSRFToken": staff_client.csrf_token},
        data={"method": "pin", "access": "full", "send_by": "none", "idempotency_key": "k" * 20},
    )
    assert "Nothing is sent: the PIN is shown here once, and Print PIN prints it." in html.unescape(toggled.get_data(as_text=True))


def test_an_issue_checks_every_field_again_whatever_the_checks_said(app, staff_client, practice, mailbox):
    """The field checks disable nothing, so a submission can overtake one: the server's own check
    on submit is what refuses a bad address."""
    child = make_patient(app, practice)
    response = issue(staff_client, child.id, email="dana.carter@")
    assert response.status_code == 422
    assert "Enter the whole email address, with a name before the @ and a domain after it" in html.unescape(
        response.get_data(as_text=True))
    assert credentials(app, child.id) == [] and mailbox.messages == []


def test_the_line_says_when_no_text_can_carry_the_pin(app, staff_client, practice):
    app.config.update(TWILIO_ACCOUNT_SID=None)
    child = make_patient(app, practice, guardian_cell="6175550143")
    with app.app_context():
        for carrier in db.session.scalars(select(Carrier)):
            carrier.ended_on = date(2020, 1, 1)
        db.session.commit()
        db.session.remove()
    toggled = staff_client.post(
        f"/patients/{child.id}/registration/form", headers={**HX, "X-CSRFToken": staff_client.csrf_token},
        data={"method": "pin", "access": "full", "send_by": "text", "cell": "6175550143", "idempotency_key": "k" * 20},
    )
    body = html.unescape(toggled.get_data(as_text=True))
    assert "No text message can carry this PIN: choose Email Address or Do not send PIN." in body
    assert "Texts a PIN" not in body
