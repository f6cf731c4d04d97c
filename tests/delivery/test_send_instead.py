"""Text instead and Email instead, and the delivery timeline per PIN (issue: "A way forward from
every failure" and "One delivery timeline per PIN").

What staff see (the buttons only where a contact for that recipient is on file, the notice, the
timeline of both PINs naming each other), what an auditor checks (the old PIN revoked, the new
one issued instead of it, one way forward per failed message) and what the parent gets (the new
PIN by the other road, which registers; the old one does not)."""

from __future__ import annotations

import html
import re
from datetime import date

from sqlalchemy import select

from blueprints.extensions import db
from models import Carrier, DeliveryEvent
from services.credentials.redemption import FAILURE_MESSAGE
from tests.support.builders import make_patient, years_ago
from tests.support.html_readers import pin_from
from tests.support.mail import point_mail_at, text_of
from tests.support.portal import register
from tests.support.rows import credentials, delivery_rows
from tests.support.staff_screens import HX, account_page, issue

DANA = "dana.carter@example.com"
CELL = "6175550143"
TEXT_BUTTON = ">Text instead</button>"
EMAIL_BUTTON = ">Email instead</button>"


def carrier_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Carrier.id).where(Carrier.name == name))


def send_instead(client, patient_id: int, message_id: int, road: str, htmx: bool = True):
    url = f"/patients/{patient_id}/messages/{message_id}/{road}-instead"
    if htmx:
        return client.post(url, headers={**HX, "X-CSRFToken": client.csrf_token})
    return client.post(url, data={"csrf_token": client.csrf_token})


def region(page: str, audience_label: str) -> str:
    match = re.search(rf'<section class="credential" aria-label="{re.escape(audience_label)}">(.*?)</section>', page, re.S)
    assert match, f"no {audience_label} region"
    return match.group(1)


def timeline_lines(page: str, label: str = "Delivery timeline") -> list[str]:
    match = re.search(rf'<div class="timeline" role="group" aria-label="{re.escape(label)}">(.*?)</div>', page, re.S)
    assert match, f"no {label}"
    return [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in re.findall(r"<li[^>]*>(.*?)</li>", match.group(1), re.S)]


def failed_email(app, staff_client, patient_id: int, refusing_port: int, sink_port: int, **fields):
    """Issue by email to a server that refuses it (550); mail then goes to the sink again."""
    point_mail_at(app, MAIL_PORT=refusing_port)
    response = issue(staff_client, patient_id, **fields)
    assert response.status_code == 200
    point_mail_at(app, MAIL_PORT=sink_port)
    message = delivery_rows(app)[-1]
    assert message.status == "failed"
    return pin_from(response.get_data(as_text=True)), message


def test_a_failed_email_is_texted_instead_to_the_guardian_cell_and_both_timelines_show_it(
    app, staff_client, practice, refusing_server, sink_port, mailbox
):
    verizon = carrier_id(app, "Verizon")
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email=DANA,
                         guardian_cell=CELL, guardian_cell_carrier_id=verizon)
    old_pin, failed = failed_email(app, staff_client, child.id, refusing_server, sink_port)

    page = account_page(staff_client, child.id)
    guardian = region(page, "Parent/Guardian")
    assert "Failed" in guardian and "550" in guardian
    assert TEXT_BUTTON in guardian and "to (•••) •••-0143" in guardian
    # The failed message is an email: Email instead would only go to the same address again.
    assert EMAIL_BUTTON not in guardian and ">Print instead</button>" in guardian

    response = send_instead(staff_client, child.id, failed.id, "text")
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Text message sent instead: a new PIN went to (•••) •••-0143. The PIN that did not arrive was revoked." in body

    # The parent's phone got the new PIN through the carrier's gateway; not the old one.
    [text] = [m for m in mailbox.messages if m["To"] == f"{CELL}@vtext.com"]
    new_pin = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", text_of(text)).group(0)
    assert new_pin != old_pin and "Emma" not in text_of(text)

    old, new = credentials(app, child.id)
    assert old.revoked_at is not None and new.instead_of_id == old.id and new.send_by == "text"
    page = account_page(staff_client, child.id)
    this_pin = timeline_lines(page)
    assert this_pin[0].endswith(
        "Issued by alex: PIN for the Parent/Guardian, to send by text message to (•••) •••-0143, instead of the "
        "email to d•••@example.com that was not delivered."
    ), this_pin[0]
    assert any("Sent: Attempt 1: handed to the mail server (the carrier's text gateway)." in line for line in this_pin)
    replaced = timeline_lines(page, "Timeline of the replaced PIN")
    assert any("Queued" in line for line in replaced)
    assert any("Failed: Attempt 1: The mail server replied 550" in line for line in replaced)
    assert replaced[-1].endswith(
        "Revoked: Replaced by a new PIN by text message, issued instead because this one was not delivered."
    ), replaced[-1]

    # The old PIN no longer registers; the new one does.
    parent = app.test_client()
    refused = register(parent, old_pin, "2018-05-17")
    assert refused.status_code == 422 and FAILURE_MESSAGE in html.unescape(refused.get_data(as_text=True))
    assert register(parent, new_pin, "2018-05-17").status_code == 303

    # One way forward per failed message: pressing again (any road) issues nothing more.
    again = send_instead(staff_client, child.id, failed.id, "text")
    assert again.status_code == 409 and "Already issued" in html.unescape(again.get_data(as_text=True))
    assert len(credentials(app, child.id)) == 2


def test_a_failed_text_is_emailed_instead_to_the_guardian_email(app, staff_client, practice, refusing_server, sink_port,
                                                                mailbox):
    verizon = carrier_id(app, "Verizon")
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email=DANA)
    point_mail_at(app, MAIL_PORT=refusing_server)
    assert issue(staff_client, child.id, send_by="text", cell=CELL, carrier=str(verizon)).status_code == 200
    point_mail_at(app, MAIL_PORT=sink_port)
    failed = delivery_rows(app)[-1]
    guardian = region(account_page(staff_client, child.id), "Parent/Guardian")
    assert EMAIL_BUTTON in guardian and "to d•••@example.com" in guardian and TEXT_BUTTON not in guardian

    response = send_instead(staff_client, child.id, failed.id, "email", htmx=False)
    assert response.status_code == 302  # without JavaScript: back to the account page
    [email] = [m for m in mailbox.messages if m["To"] == DANA]
    assert re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", text_of(email))
    old, new = credentials(app, child.id)
    assert old.revoked_at is not None and new.instead_of_id == old.id and new.send_by == "email"


def test_a_minors_pin_never_falls_back_to_the_guardians_contacts(app, staff_client, practice, refusing_server, sink_port,
                                                                 mailbox):
    verizon = carrier_id(app, "Verizon")
    teen = make_patient(app, practice, "Liam", "Carter", years_ago(14), guardian_email=DANA,
                        guardian_cell=CELL, guardian_cell_carrier_id=verizon)
    _, failed = failed_email(app, staff_client, teen.id, refusing_server, sink_port, send_to="minor",
                             email="liam.carter@example.com")
    minor = region(account_page(staff_client, teen.id), "Minor")
    # The guardian's cell is on file, but it is not the minor's: no Text instead.
    assert "Failed" in minor and TEXT_BUTTON not in minor and EMAIL_BUTTON not in minor
    refused = send_instead(staff_client, teen.id, failed.id, "text")
    assert refused.status_code == 409
    assert "no cell phone with a working road to it is on file for this recipient" in html.unescape(
        refused.get_data(as_text=True))
    assert [m for m in mailbox.messages if CELL in m["To"]] == []
    assert len(credentials(app, teen.id)) == 1

    # A cell entered for the minor earlier counts: a text to the minor went to it.
    teen2 = make_patient(app, practice, "Noah", "Carter", years_ago(15), guardian_email=DANA,
                         guardian_cell=CELL, guardian_cell_carrier_id=verizon)
    assert issue(staff_client, teen2.id, send_by="text", send_to="minor", cell="6175550199",
                 carrier=str(verizon)).status_code == 200
    _, failed = failed_email(app, staff_client, teen2.id, refusing_server, sink_port, send_to="minor",
                             email="noah.carter@example.com")
    minor = region(account_page(staff_client, teen2.id), "Minor")
    assert TEXT_BUTTON in minor and "to (•••) •••-0199" in minor


def test_no_text_instead_when_no_working_road_to_the_phone_is_left(app, staff_client, practice, refusing_server,
                                                                    sink_port, mailbox):
    tmobile = carrier_id(app, "T-Mobile")  # its gateway shut down in 2024
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email=DANA,
                         guardian_cell=CELL, guardian_cell_carrier_id=tmobile)
    _, failed = failed_email(app, staff_client, child.id, refusing_server, sink_port)
    assert TEXT_BUTTON not in region(account_page(staff_client, child.id), "Parent/Guardian")
    assert send_instead(staff_client, child.id, failed.id, "text").status_code == 409


def test_ways_forward_are_scoped_to_the_practice_and_the_patient(app, staff_client, practice, other_practice,
                                                                 refusing_server, sink_port, mailbox):
    verizon = carrier_id(app, "Verizon")
    child = make_patient(app, practice, guardian_email=DANA, guardian_cell=CELL, guardian_cell_carrier_id=verizon)
    other = make_patient(app, other_practice, guardian_email=DANA, guardian_cell=CELL, guardian_cell_carrier_id=verizon)
    _, failed = failed_email(app, staff_client, child.id, refusing_server, sink_port)
    assert send_instead(staff_client, other.id, failed.id, "text").status_code == 404
    assert staff_client.post(f"/patients/{child.id}/messages/{failed.id}/fax-instead",
                             headers={**HX, "X-CSRFToken": staff_client.csrf_token}).status_code == 404
    assert len(credentials(app, child.id)) == 1


def test_the_timeline_records_each_attempt_in_the_practice_time_zone(app, staff_client, child, refusing_server,
                                                                     sink_port, mailbox):
    _, failed = failed_email(app, staff_client, child.id, refusing_server, sink_port)
    with app.app_context():
        kinds = [e.kind for e in db.session.scalars(select(DeliveryEvent).where(DeliveryEvent.message_id == failed.id)
                                                    .order_by(DeliveryEvent.id))]
    assert kinds == ["queued", "failed"]
    lines = timeline_lines(account_page(staff_client, child.id))
    # The practice's time zone (America/New_York in the tests): EST or EDT, never UTC.
    assert all(re.search(r"\bE[SD]T\b", line) for line in lines), lines


def test_a_bounced_typo_is_emailed_instead_to_the_guardian_email_on_file(app, staff_client, child, refusing_server,
                                                                         sink_port, mailbox):
    """Staff typed another address than the one on file, and it failed: Email instead goes to the
    address on file (never again to the one that failed)."""
    _, failed = failed_email(app, staff_client, child.id, refusing_server, sink_port, email="dana.carter@exmaple.com")
    guardian = region(account_page(staff_client, child.id), "Parent/Guardian")
    assert EMAIL_BUTTON in guardian and "to d•••@example.com" in guardian and TEXT_BUTTON not in guardian
    assert send_instead(staff_client, child.id, failed.id, "email").status_code == 200
    assert [m["To"] for m in mailbox.messages] == [DANA]


def test_an_email_address_starting_with_plus_is_an_email_not_a_text(app, staff_client, child, mailbox):
    """The database tells texts through the SMS service (+1…) from addresses by more than the '+'."""
    response = issue(staff_client, child.id, email="+dana@example.com")
    assert response.status_code == 200
    [row] = delivery_rows(app)
    assert row.channel == "email" and row.status == "sent"
    assert [m["To"] for m in mailbox.messages] == ["+dana@example.com"]
