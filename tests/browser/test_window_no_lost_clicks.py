"""Issue 14, the bug: a click made straight from a contact field is never swallowed by the field's
check. Leaving the Email field (for a Minor) asks the server to check it; the click that left the
field lands on the action button in the same instant and must issue the PIN."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import PRINT_RECORDER, credential_rows, open_account, open_registration, radio, shown_pin
from tests.support.mail import text_of

pytestmark = pytest.mark.browser

MINOR_EMAIL = "sofia.n@example.com"


def _minor_window_with_email_typed(page, teen):
    open_account(page, teen)
    dialog = open_registration(page)
    radio(dialog, "Send to", "Minor").check()
    email = dialog.get_by_label("Email", exact=True)
    expect(email).to_have_value("")
    email.click()
    page.keyboard.type(MINOR_EMAIL)  # the focus stays in the field: no Tab, no wait
    return dialog


@pytest.mark.parametrize("button", ["Send PIN / Verification Question", "Print PIN"])
def test_a_click_straight_from_the_email_field_issues_the_pin(signed_in, live_server, app, teen, mailbox, button):
    page = signed_in
    page.add_init_script(PRINT_RECORDER)
    page.reload()
    dialog = _minor_window_with_email_typed(page, teen)
    dialog.get_by_role("button", name=button, exact=True).click()

    pin = shown_pin(dialog)
    expect(dialog.get_by_role("status")).to_contain_text("Sent by email to s")
    [row] = credential_rows(app, teen.id)
    assert row.audience == "minor" and row.send_by == "email"
    assert len(mailbox.messages) == 1
    assert mailbox.messages[0]["To"] == MINOR_EMAIL and pin in text_of(mailbox.messages[0])
    if button == "Print PIN":
        page.wait_for_function("() => window.__printCalls === 1")


def test_complete_log_in_straight_from_the_email_field_issues_the_pin(signed_in, live_server, context, app, teen, mailbox):
    app.config["PORTAL_URL"] = live_server("/portal/register")
    page = signed_in
    dialog = _minor_window_with_email_typed(page, teen)
    with context.expect_page() as new_tab:
        dialog.get_by_role("button", name="Complete / Log In", exact=True).click()
    expect(new_tab.value).to_have_url(re.compile(r"desk=[\w.-]+"))

    shown_pin(dialog)
    [row] = credential_rows(app, teen.id)
    assert row.audience == "minor"
    assert len(mailbox.messages) == 1 and mailbox.messages[0]["To"] == MINOR_EMAIL
