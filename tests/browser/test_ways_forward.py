"""A failed email on the Patient Account page in Chromium: the delivery region shows Failed with
the server's reason and the PIN's delivery timeline; Text instead sends a new PIN by text to the
guardian's cell on file, in place, without a page load, and both timelines are shown, each naming
the other."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from blueprints.extensions import db
from models import Carrier
from tests.support.browser_pages import (
    assert_accessible,
    assert_same_document,
    mark_document,
    open_account,
    open_registration,
    shown_pin,
)
from tests.support.builders import make_patient, years_ago
from tests.support.mail import point_mail_at

pytestmark = pytest.mark.browser


def test_a_failed_email_is_texted_instead_in_place(signed_in, live_server, app, practice, refusing_server, mailbox,
                                                   sink_port, shot):
    with app.app_context():
        verizon = db.session.scalar(select(Carrier.id).where(Carrier.name == "Verizon"))
    patient = make_patient(app, practice, "Ava", "Brooks", years_ago(6, days=20), guardian_email="jo.brooks@example.com",
                           guardian_cell="6175550143", guardian_cell_carrier_id=verizon)
    page = signed_in
    open_account(page, patient)
    point_mail_at(app, MAIL_PORT=refusing_server)  # 550 for every recipient
    dialog = open_registration(page)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    old_pin = shown_pin(dialog)
    dialog.get_by_role("button", name="Close", exact=True).click()
    point_mail_at(app, MAIL_PORT=sink_port)

    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    expect(guardian).to_contain_text("Failed")
    timeline = guardian.get_by_role("group", name="Delivery timeline", exact=True)
    expect(timeline.get_by_role("listitem")).to_have_count(3)  # issued, queued, the refused attempt
    expect(timeline).to_contain_text("Issued by alex")
    expect(timeline).to_contain_text("The mail server replied 550")
    expect(guardian.get_by_role("button", name="Email instead", exact=True)).to_have_count(0)
    text_instead = guardian.get_by_role("button", name="Text instead", exact=True)
    expect(text_instead).to_be_visible()
    assert_accessible(page, "Patient Account page with a failed email")
    shot(page, "40-timeline-failed-email")
    mark_document(page)

    text_instead.click()
    expect(guardian.get_by_role("status")).to_contain_text("Text message sent instead: a new PIN went to (•••) •••-0143.")
    expect(guardian).to_contain_text("Text message to (•••) •••-0143")
    this_pin = guardian.get_by_role("group", name="Delivery timeline", exact=True)
    expect(this_pin).to_contain_text("instead of the email to j•••@example.com that was not delivered")
    expect(this_pin).to_contain_text("handed to the mail server (the carrier's text gateway)")
    replaced = guardian.get_by_role("group", name="Timeline of the replaced PIN", exact=True)
    expect(replaced).to_contain_text("Replaced by a new PIN by text message")
    assert_same_document(page)
    assert_accessible(page, "Patient Account page after Text instead")
    shot(page, "41-timeline-texted-instead")

    [text] = [m for m in mailbox.messages if m["To"] == "6175550143@vtext.com"]
    body = text.get_body(preferencelist=("plain",)).get_content()
    assert old_pin not in body and "Ava" not in body
