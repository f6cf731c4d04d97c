"""Links in messages, in Chromium: the email's link (`…?practice=SLUG#pin=XXXX-XXXX`) opens the
registration page with PIN filled in, the PIN gone from the address bar and the practice named;
the printed letter's QR code, read back from the printed page with zxing-cpp, is that link."""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.support.app_settings import PORTAL_URL
from tests.support.browser_pages import PRINT_RECORDER, open_account, open_registration, pdf_page_count, radio, shown_pin
from tests.support.html_readers import csrf_token_from
from tests.support.mail import text_of
from tests.support.portal import PARENT_PASSWORD, issue_pin
from tests.support.staff_screens import sign_in as staff_sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def staff_client(app, staff):
    """Staff issue through the test client; the browser is the parent's alone."""
    client = app.test_client()
    assert staff_sign_in(client).status_code == 302
    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    return client


def test_the_emails_link_fills_the_pin_and_takes_it_out_of_the_address_bar(browser_page, live_server, app, staff_client,
                                                                            child, mailbox, shot):
    app.config["PORTAL_URL"] = live_server("/portal/register")
    pin = issue_pin(staff_client, child.id, mailbox)
    link = re.search(r"(http\S+#pin=\S+)", text_of(mailbox.messages[-1])).group(1)
    assert link == live_server(f"/portal/register?practice=cedar-pediatrics#pin={pin}")

    page = browser_page
    page.goto(link)
    expect(page.get_by_label("PIN", exact=True)).to_have_value(pin)
    expect(page.get_by_text("Registering with Cedar Pediatrics")).to_be_visible()
    assert page.evaluate("() => window.location.href") == live_server("/portal/register?practice=cedar-pediatrics")
    assert pin not in page.url and "#" not in page.url
    expect(page.get_by_label("Patient date of birth", exact=True)).to_have_value("")  # the parent types it
    shot(page, "50-register-from-the-emails-link")

    page.get_by_label("Email", exact=True).fill("dana.carter@example.com")
    page.get_by_label("Password", exact=True).fill(PARENT_PASSWORD)
    page.get_by_label("Patient date of birth", exact=True).fill(child.date_of_birth.isoformat())
    page.get_by_label("I accept the Terms & Conditions", exact=True).check()
    page.get_by_role("button", name="Create My Account", exact=True).click()
    expect(page.get_by_role("heading", name="Your Patient Portal", level=1)).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="Emma")).to_be_visible()


def test_the_printed_letters_qr_code_is_the_emails_link_with_the_pin(signed_in, live_server, app, teen, mailbox, shot):
    page = signed_in
    page.add_init_script(PRINT_RECORDER)
    open_account(page, teen)
    dialog = open_registration(page)
    radio(dialog, "Send by", "Do not send PIN").check()
    dialog.get_by_role("button", name="Print PIN", exact=True).click()
    pin = shown_pin(dialog)
    page.wait_for_function("() => window.__printCalls === 1")

    page.emulate_media(media="print")
    letter = page.locator(".print-letter")
    expect(letter).to_be_visible()
    picture = letter.screenshot()
    shot(page, "51-printed-letter-with-qr-code")
    found = [barcode.text for barcode in zxingcpp.read_barcodes(Image.open(io.BytesIO(picture)))]
    assert found == [f"{PORTAL_URL}?practice=cedar-pediatrics#pin={pin}"], found
    assert pdf_page_count(page.pdf(format="Letter", print_background=True)) == 1, "the letter must fit one Letter page"
