"""Message Templates in Chromium: an admin edits the text message and the letter, sees the reason
beside the field when one is refused, previews without a page load, and a letter at the largest
size the checks allow still prints on one Letter page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from services.delivery.message_templates import LETTER_MAX_CHARACTERS, LETTER_MAX_LINES
from tests.support.browser_pages import (
    PRINT_RECORDER,
    assert_accessible,
    assert_same_document,
    mark_document,
    open_account,
    open_registration,
    pdf_page_count,
    pdf_text,
    radio,
    shown_pin,
    sign_in,
)
from tests.support.builders import make_staff

pytestmark = pytest.mark.browser

TOO_LONG_TEXT = "{practice_name}: PIN {pin} at {portal_url} until {expires}. " + "Welcome to our practice! " * 4
GOOD_TEXT = "{practice_name}: PIN {pin} at {portal_url} until {expires}."
REQUIRED = "{practice_name} {pin} {portal_url} {expires}"


@pytest.fixture
def admin(browser_page, live_server, app, practice):
    make_staff(app, practice, "morgan", admin=True)
    sign_in(browser_page, live_server, "morgan")
    return browser_page


def test_an_admin_fixes_a_refused_text_template_previews_and_saves_it(admin, live_server, shot):
    page = admin
    page.get_by_role("link", name="Practice Settings", exact=True).click()
    page.get_by_role("link", name="Message templates", exact=True).click()
    page.get_by_role("link", name="Edit text message", exact=True).click()
    expect(page.get_by_role("heading", name="Text message template", level=1)).to_be_visible()
    mark_document(page)

    message = page.get_by_label("Message", exact=True)
    message.fill(TOO_LONG_TEXT)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("With the longest values this text message has")).to_be_visible()
    expect(page.get_by_label("Message", exact=True)).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "Text message template, refused")
    shot(page, "40-template-refused")

    page.get_by_label("Message", exact=True).fill(GOOD_TEXT)
    page.get_by_role("button", name="Preview", exact=True).click()
    preview = page.get_by_role("region", name="Preview", exact=True)
    expect(preview).to_contain_text("Cedar Pediatrics: PIN K7QX-4M2P at")
    expect(preview).to_contain_text("with the longest PIN and expiry")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(page.get_by_role("button", name="Restore default", exact=True)).to_be_visible()
    assert_same_document(page)
    assert_accessible(page, "Text message template, saved with preview")
    shot(page, "41-template-saved")


@pytest.mark.parametrize("shape", ["many-paragraphs", "one-long-paragraph"])
def test_the_largest_letter_allowed_prints_on_one_page(admin, live_server, app, teen, shape, shot):
    page = admin
    page.add_init_script(PRINT_RECORDER)
    if shape == "many-paragraphs":
        # Every other line blank: the most paragraph spacing the line limit allows.
        filler_lines = LETTER_MAX_LINES // 2 - 2
        width = (LETTER_MAX_CHARACTERS - 200) // filler_lines
        lines = [REQUIRED, "{pin}"]
        lines += [("Please bring this letter to your next visit. " * 4)[:width] for _ in range(filler_lines)]
        body = "\n\n".join(lines)
    else:
        body = REQUIRED + "\n\n{pin}\n\n" + ("Please bring this letter to your next visit, " * 40)[: LETTER_MAX_CHARACTERS - 80]
    assert len(body) <= LETTER_MAX_CHARACTERS and len(body.splitlines()) <= LETTER_MAX_LINES

    page.goto(live_server("/practice/templates/letter"))
    page.get_by_label("Message", exact=True).fill(body)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Saved")

    page.goto(live_server("/patients"))
    open_account(page, teen)
    dialog = open_registration(page)
    radio(dialog, "Send by", "Do not send PIN").check()
    dialog.get_by_role("button", name="Print PIN", exact=True).click()
    pin = shown_pin(dialog)
    page.wait_for_function("() => window.__printCalls === 1")
    page.emulate_media(media="print")
    shot(page, f"42-letter-{shape}")
    pdf = page.pdf(format="Letter", print_background=True)
    assert pdf_page_count(pdf) == 1, "the largest letter the checks allow must fit one Letter page"
    assert pin in pdf_text(pdf)
    page.emulate_media(media="screen")
