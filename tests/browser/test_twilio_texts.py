"""Texts through Twilio in Chromium: with Twilio configured the window needs no Cell Carrier (and
says why), the text reaches the fake Twilio on loopback, and its receipts, signed and posted to
the served app over HTTP, turn the account page's delivery line to Delivered, or to Failed with
the reason and Print instead."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import assert_accessible, open_account, open_registration, radio, shown_pin
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

    port = urlsplit(live_server.url).port
    assert post_callback_over_http(port, callback(sid, "sent")).status == 204
    assert post_callback_over_http(port, callback(sid, "delivered")).status == 204
    page.reload()
    expect(guardian).to_contain_text("Delivered")
    assert_accessible(page, "Patient Account page, text delivered")
    shot(page, "41-account-text-delivered")


def test_an_undelivered_receipt_shows_failed_with_the_reason_and_print_instead(
    signed_in, live_server, app, child, fake_twilio, shot
):
    page = signed_in
    sid = text_by_twilio(page, child, fake_twilio, shot)
    port = urlsplit(live_server.url).port
    assert post_callback_over_http(port, callback(sid, "undelivered", 30003)).status == 204
    page.reload()
    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    expect(guardian).to_contain_text("Failed")
    expect(guardian).to_contain_text("The phone could not be reached (it may be switched off or out of service). (Twilio error 30003)")
    expect(guardian.get_by_role("button", name="Print instead", exact=True)).to_be_visible()
    assert_accessible(page, "Patient Account page, text undelivered")
    shot(page, "42-account-text-failed")
