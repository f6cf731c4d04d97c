"""The Patient Account page as a receptionist uses it (issue 14), in Chromium:

- History lists what was just done without a reload, each line a sentence a person reads
  ("Emailed a PIN to d•••@example.com"), with repeated looks at the account folded into one line;
- Revoke PIN and staff Remove are one deliberate step away (the first click only opens the box
  that does it, which a Keep link closes again);
- a Baby Boy's refusal is on the account page itself, and saving the given name in Update Basic
  Info goes straight on to the registration window;
- a delivery failure reads as one plain sentence, said once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import (
    assert_accessible,
    assert_same_document,
    credential_rows,
    mark_document,
    open_account,
    open_registration,
    radio,
    sign_in,
)
from tests.support.builders import make_patient, make_staff, years_ago
from tests.support.mail import point_mail_at
from tests.support.network import free_port

pytestmark = pytest.mark.browser


def history_rows(page):
    return page.get_by_role("region", name="History", exact=True).get_by_role("row")


def test_history_refreshes_in_place_in_plain_words_and_folds_repeated_views(
        signed_in, live_server, app, child, mailbox, shot):
    page = signed_in
    open_account(page, child)
    for _ in range(3):  # three more looks at the account: one line, not four
        page.reload()
    history = page.get_by_role("region", name="History", exact=True)
    expect(history).to_contain_text("Viewed the account 4 times")
    expect(history.get_by_role("cell", name="Viewed the account", exact=True)).to_have_count(0)
    mark_document(page)

    dialog = open_registration(page)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("Sent")
    dialog.get_by_role("button", name="Close", exact=True).click()
    # Listed at once, newest first, in words a person wrote.
    expect(history_rows(page).nth(1)).to_contain_text("Emailed a PIN to d•••@example.com")
    expect(history_rows(page).nth(2)).to_contain_text("Issued a PIN, to be emailed to d•••@example.com")
    for internal in ("send by", "(on issue)", "email 1", "PIN 1", "view account"):
        expect(history).not_to_contain_text(internal)

    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    guardian.get_by_role("button", name="Revoke PIN", exact=True).click()
    guardian.get_by_label("Reason", exact=True).fill("Parent asked for a new PIN")
    guardian.get_by_role("button", name="Revoke PIN", exact=True).click()
    expect(guardian.get_by_role("status")).to_have_text("PIN revoked.")
    expect(history_rows(page).nth(1)).to_contain_text("Revoked the PIN: Parent asked for a new PIN")
    assert_same_document(page)
    assert_accessible(page, "Patient Account page, History after issue and revoke")
    shot(page, "60-account-history")


def test_revoke_pin_is_one_deliberate_step_away(signed_in, live_server, app, teen, mailbox, shot):
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    radio(dialog, "Send by", "Do not send PIN").check()
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("Not sent")
    dialog.get_by_role("button", name="Close", exact=True).click()

    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    reason = guardian.get_by_label("Reason", exact=True)
    # Only the first step shows: no reason box competing with Register Patient.
    expect(guardian.get_by_role("button", name="Revoke PIN", exact=True)).to_be_visible()
    expect(reason).to_be_hidden()
    shot(page, "61-account-revoke-closed")
    mark_document(page)

    guardian.get_by_role("button", name="Revoke PIN", exact=True).click()
    expect(reason).to_be_visible()
    expect(reason).to_be_focused()
    expect(guardian.get_by_role("button", name="Revoke PIN", exact=True)).to_have_count(1)  # the one that revokes
    guardian.get_by_role("link", name="Keep PIN", exact=True).click()
    expect(reason).to_be_hidden()
    expect(guardian.get_by_role("button", name="Revoke PIN", exact=True)).to_be_focused()
    assert credential_rows(app, teen.id)[0].revoked_at is None

    # By keyboard alone: Enter opens it, the reason, Enter revokes.
    page.keyboard.press("Enter")
    expect(reason).to_be_focused()
    page.keyboard.type("Wrong parent")
    page.keyboard.press("Enter")
    expect(guardian.get_by_role("status")).to_have_text("PIN revoked.")
    assert_same_document(page)
    assert credential_rows(app, teen.id)[0].revoked_reason == "Wrong parent"


def test_without_javascript_revoke_pin_still_takes_two_steps(app, practice, teen, mailbox, browser, live_server):
    make_staff(app, practice)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        page.goto(live_server(f"/patients/{teen.id}/registration"))
        radio(page, "Send by", "Do not send PIN").check()
        page.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
        page.goto(live_server(f"/patients/{teen.id}"))
        guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
        expect(guardian.get_by_label("Reason", exact=True)).to_be_hidden()
        guardian.get_by_role("button", name="Revoke PIN", exact=True).click()
        expect(guardian.get_by_label("Reason", exact=True)).to_be_focused()
        guardian.get_by_label("Reason", exact=True).fill("Parent asked")
        guardian.get_by_role("button", name="Revoke PIN", exact=True).click()
        expect(page.get_by_text("PIN revoked.", exact=True)).to_be_visible()
        assert credential_rows(app, teen.id)[0].revoked_reason == "Parent asked"
    finally:
        context.close()


def test_staff_remove_asks_first(browser_page, live_server, app, practice, shot):
    make_staff(app, practice, "morgan", admin=True)
    make_staff(app, practice, "riley")
    page = browser_page
    sign_in(page, live_server, "morgan")
    page.goto(live_server("/practice/staff"))
    row = page.get_by_role("row").filter(has_text="riley")
    row.get_by_role("button", name="Remove riley", exact=True).click()
    # Asked, not done: riley is still on staff until the second, deliberate click.
    asking = row.get_by_text("riley will no longer be able to sign in to Cedar Pediatrics.", exact=True)
    expect(asking).to_be_visible()
    assert_accessible(page, "Staff page asking before Remove")
    shot(page, "62-staff-remove-asks")
    row.get_by_role("link", name="Keep riley", exact=True).click()
    expect(asking).to_be_hidden()
    page.reload()
    expect(page.get_by_role("row").filter(has_text="riley")).to_have_count(1)

    row.get_by_role("button", name="Remove riley", exact=True).click()
    # The focus is on Keep, not on the button that removes: a second Enter keeps riley.
    expect(row.get_by_role("link", name="Keep riley", exact=True)).to_be_focused()
    row.get_by_role("button", name="Yes, remove riley", exact=True).click()
    expect(page.get_by_text("Removed from the practice.", exact=False)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="riley")).to_have_count(0)


def test_a_baby_boy_is_refused_on_the_account_page_and_update_basic_info_goes_on_to_the_window(
        signed_in, live_server, app, practice, mailbox, shot):
    baby = make_patient(app, practice, "Baby Boy", "Okafor", years_ago(0, days=20), guardian_email="ada.okafor@example.com")
    page = signed_in
    open_account(page, baby)
    settings = page.get_by_role("region", name="Account Settings", exact=True)
    # Said before anyone opens the window to find out.
    expect(settings).to_contain_text("Baby Boy is not the patient's given name")
    assert_accessible(page, "Patient Account page of a Baby Boy")
    shot(page, "63-account-baby-boy")
    settings.get_by_role("link", name="Update Basic Info", exact=True).click()
    page.get_by_label("First name", exact=True).fill("Chidi")
    page.get_by_role("button", name="Save", exact=True).click()
    # Straight on to the registration window, with the given name.
    dialog = page.get_by_role("dialog", name="Patient Registration", exact=True)
    expect(dialog).to_be_visible()
    expect(page.get_by_role("heading", name="Okafor, Chidi", level=1, exact=True)).to_be_visible()
    expect(settings.get_by_text("not the patient's given name", exact=False)).to_have_count(0)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("Sent")


def test_a_delivery_failure_is_one_plain_sentence_said_once(signed_in, live_server, app, child, mailbox, sink_port):
    page = signed_in
    open_account(page, child)
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens: refused
    dialog = open_registration(page)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("Not delivered yet")
    dialog.get_by_role("button", name="Close", exact=True).click()

    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    guardian.get_by_role("button", name="Retry", exact=True).click()
    expect(guardian.get_by_role("alert")).to_have_text(
        "Retry did not get through. The message stays queued and is tried again automatically.")
    # The delivery line and the notice: the reason once (the timeline below lists each attempt).
    text = guardian.locator(".delivery-line, .delivery-notice").all_inner_texts()
    reason = "Could not reach the mail server: it refused the connection."
    assert " ".join(text).count(reason) == 1, text
    text = guardian.inner_text()
    for python in ("Error)", "ConnectionRefused", ".)", ");"):
        assert python not in text, text
