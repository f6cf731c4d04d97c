"""Texts through Twilio in Chromium: with Twilio configured the window needs no Cell Carrier (and
says why), the text reaches the fake Twilio on loopback, and its receipts, signed and posted to
the served app over HTTP, turn the account page's delivery line to Delivered, or to Failed with
the reason, Print instead and Email instead, without a reload."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import (
    assert_accessible,
    assert_same_document,
    mark_document,
    open_account,
    open_registration,
    radio,
    shown_pin,
)
from tests.support.fake_twilio import callback, post_callback_over_http, twilio_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(fake_twilio):
    return twilio_settings(fake_twilio.url)


def text_by_twilio(page, patient, fake_twilio, shot) -> str:
    """Issue a PIN by Text Message with no carrier; returns the text's MessageSid."""
    open_account(page, patient)
    dialog = open_registration(page)
    radio(dialog, "Send by", "Text Message").check()
    carrier = dialog.get_by_label("Cell Carrier", exact=True)
    expect(carrier).to_be_enabled()
    assert carrier.evaluate("select => select.required") is False
    expect(dialog).to_contain_text("Optional: texts go straight to the number through the practice's SMS service")
    dialog.get_by_label("Cell phone", exact=True).fill("617-555-0143")
    assert_accessible(page, "Patient Registration window, Text Message through Twilio")
    shot(page, "40-window-text-through-twilio")
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    pin = shown_pin(dialog)
    dialog.get_by_role("button", name="Close", exact=True).click()
    [created] = fake_twilio.texts
    assert created.form["To"] == "+16175550143" and pin in created.form["Body"]
    return created.sid


def test_a_delivered_receipt_shows_delivered(signed_in, live_server, app, child, fake_twilio, shot):
    page = signed_in
    sid = text_by_twilio(page, child, fake_twilio, shot)
    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    expect(guardian).to_contain_text("Sent")
    # A text awaiting its receipt: the delivery region refreshes itself.
    assert page.locator('#delivery-guardian[hx-trigger="every 5s"]').count() == 1
    mark_document(page)

    port = urlsplit(live_server.url).port
    assert post_callback_over_http(port, callback(sid, "sent")).status == 204
    assert post_callback_over_http(port, callback(sid, "delivered")).status == 204
    # No reload: the next refresh (within 5 s) shows it, and the settled region stops refreshing.
    expect(guardian).to_contain_text("Delivered", timeout=12_000)
    expect(guardian.get_by_role("group", name="Delivery timeline", exact=True)).to_contain_text(
        "Delivered: The carrier reports it reached the phone.")
    assert page.locator("#delivery-guardian[hx-trigger]").count() == 0
    assert_same_document(page)
    assert_accessible(page, "Patient Account page, text delivered")
    shot(page, "41-account-text-delivered")


def test_an_undelivered_receipt_shows_failed_with_the_reason_and_the_ways_forward(
    signed_in, live_server, app, child, fake_twilio, mailbox, shot
):
    page = signed_in
    sid = text_by_twilio(page, child, fake_twilio, shot)
    mark_document(page)
    port = urlsplit(live_server.url).port
    assert post_callback_over_http(port, callback(sid, "undelivered", 30003)).status == 204
    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    expect(guardian).to_contain_text("Failed", timeout=12_000)  # no reload: the region refreshed itself
    assert_same_document(page)
    expect(guardian).to_contain_text("The phone could not be reached (it may be switched off or out of service). (Twilio error 30003)")
    expect(guardian.get_by_role("button", name="Print instead", exact=True)).to_be_visible()
    # The guardian's email is on file: Email instead sends a new PIN there, and revokes this one.
    email_instead = guardian.get_by_role("button", name="Email instead", exact=True)
    expect(email_instead).to_be_visible()
    assert_accessible(page, "Patient Account page, text undelivered")
    shot(page, "42-account-text-failed")
    email_instead.click()
    expect(guardian.get_by_role("status")).to_contain_text("Email sent instead: a new PIN went to d•••@example.com.")
    expect(guardian.get_by_role("group", name="Timeline of the replaced PIN", exact=True)).to_contain_text(
        "(Twilio error 30003)")
    shot(page, "43-account-emailed-instead")
