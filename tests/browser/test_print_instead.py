"""Print instead on the Patient Account page in Chromium: a welcome message refused by the mail
server (550) is replaced by a fresh PIN that the Patient Registration dialog shows once and
prints as a one-page letter, without a page load; axe on the account page and the dialog."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import (
    PRINT_RECORDER,
    assert_accessible,
    assert_same_document,
    credential_rows,
    mark_document,
    open_account,
    open_registration,
    pdf_page_count,
    pdf_text,
    shown_pin,
)
from tests.support.mail import point_mail_at
from tests.support.network import free_port

pytestmark = pytest.mark.browser


def send_and_fail(page, app, refusing_port: int) -> str:
    """Send a PIN by email to a server that refuses it (550); returns the PIN the window showed."""
    point_mail_at(app, MAIL_PORT=refusing_port)
    dialog = open_registration(page)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    pin = shown_pin(dialog)
    expect(dialog.get_by_role("status")).to_contain_text("Not delivered")
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    return pin


def test_print_instead_replaces_a_failed_message_with_a_printed_pin(
    signed_in, live_server, app, child, mailbox, refusing_server, sink_port, shot
):
    page = signed_in
    page.add_init_script(PRINT_RECORDER)
    open_account(page, child)
    failed_pin = send_and_fail(page, app, refusing_server)
    point_mail_at(app, MAIL_PORT=sink_port)  # anything sent from now on would be seen

    page.reload()  # the account page as staff find it later
    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    expect(guardian).to_contain_text("Failed")
    expect(guardian).to_contain_text("Mailbox unavailable")
    expect(guardian.get_by_role("button", name="Retry", exact=True)).to_have_count(0)  # the body is gone
    print_instead = guardian.get_by_role("button", name="Print instead", exact=True)
    expect(print_instead).to_be_visible()
    expect(print_instead).to_have_accessible_description(re.compile(r"cannot be sent again\. .*Print instead: it revokes this PIN and prints a new PIN"))
    assert_accessible(page, "Patient Account page with a failed message and Print instead")
    shot(page, "30-account-failed-print-instead")
    mark_document(page)

    print_instead.click()
    dialog = page.get_by_role("dialog", name="Patient Registration", exact=True)
    expect(dialog).to_be_visible()
    pin = shown_pin(dialog)
    assert pin != failed_pin
    expect(dialog.get_by_role("status")).to_contain_text("Not sent: printed instead of the email")
    expect(dialog.get_by_role("status")).to_be_focused()
    page.wait_for_function("() => window.__printCalls === 1")
    assert_same_document(page)
    # Behind the dialog, the account's region already tells the new state (out of band).
    expect(guardian).to_contain_text("Not sent (printed instead)")
    expect(guardian).to_contain_text("Active")
    expect(guardian.get_by_role("button", name="Print instead", exact=True)).to_have_count(0)
    assert_accessible(page, "Patient Registration dialog after Print instead")
    shot(page, "31-print-instead-result")

    # The printed page is the letter alone, one Letter page, with the new PIN.
    page.emulate_media(media="print")
    letter = page.locator(".print-letter")
    expect(letter).to_be_visible()
    expect(letter).to_contain_text(pin)
    expect(page.get_by_role("status")).to_be_hidden()
    pdf = page.pdf(format="Letter", print_background=True)
    assert pdf_page_count(pdf) == 1, "the letter must fit one Letter page"
    printed = pdf_text(pdf)
    assert pin in printed and "Cedar Pediatrics" in printed and "Emma" in printed
    for screen_only in ("Patient Registration", "Print instead", "Failed", "Mailbox unavailable", failed_pin, "Sign out"):
        assert screen_only not in printed, f"{screen_only!r} is printed with the letter"
    page.emulate_media(media="screen")

    # Closing the dialog takes the PIN off the page; it is in no URL.
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator("#dialog-slot")).to_be_empty()  # the dialog's close event empties it
    assert pin not in page.content() and pin.replace("-", "") not in page.url
    assert_same_document(page)

    old, new = credential_rows(app, child.id)
    assert old.revoked_at is not None and "Replaced" in old.revoked_reason
    assert new.kind == "pin" and new.send_by == "none" and new.revoked_at is None
    assert mailbox.messages == []


def test_print_instead_is_disabled_while_in_flight_and_a_double_click_issues_one_pin(
    signed_in, live_server, app, child, mailbox, refusing_server
):
    page = signed_in
    page.add_init_script(PRINT_RECORDER)
    open_account(page, child)
    send_and_fail(page, app, refusing_server)
    held = []
    page.route("**/print-instead", lambda route: held.append(route))  # answered when we say

    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    button = guardian.get_by_role("button", name="Print instead", exact=True)
    button.dblclick()
    expect(button).to_be_disabled()  # hx-disabled-elt, while the request is in flight
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    page.wait_for_timeout(300)  # room for a second request, if the double click made one
    assert len(held) == 1, "one request for a double click"
    held[0].continue_()

    pin = shown_pin(page.get_by_role("dialog", name="Patient Registration", exact=True))
    page.wait_for_function("() => window.__printCalls === 1")
    old, new = credential_rows(app, child.id)
    assert old.revoked_at is not None and new.revoked_at is None and new.send_by == "none"
    assert pin and mailbox.messages == []


def test_print_instead_from_a_queued_message_while_its_region_polls(signed_in, live_server, app, child, mailbox):
    """A queued message's region polls itself (hx-select on it): the Print instead form inside
    must not inherit that, or the dialog would come back empty."""
    page = signed_in
    page.add_init_script(PRINT_RECORDER)
    open_account(page, child)
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens: the message stays queued
    dialog = open_registration(page)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("Not delivered yet")
    dialog.get_by_role("button", name="Close", exact=True).click()

    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    expect(guardian).to_contain_text("Queued")
    expect(guardian.get_by_role("button", name="Retry", exact=True)).to_be_visible()
    guardian.get_by_role("button", name="Print instead", exact=True).click()
    dialog = page.get_by_role("dialog", name="Patient Registration", exact=True)
    pin = shown_pin(dialog)
    page.wait_for_function("() => window.__printCalls === 1")
    expect(page.locator(".print-letter")).to_contain_text(pin, use_inner_text=False)
    expect(guardian).to_contain_text("Not sent (printed instead)")
    expect(guardian.get_by_role("button", name="Retry", exact=True)).to_have_count(0)
