"""Revoke PIN on the Patient Account page in Chromium: the reason is required (message beside
the field, focus on it), then the region swaps to Revoked without a page load; axe on each."""

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
)

pytestmark = pytest.mark.browser


def test_revoke_pin_needs_a_reason_and_shows_revoked_without_a_page_load(signed_in, live_server, app, teen, mailbox, shot):
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    radio(dialog, "Send by", "Do not send PIN").check()
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("Not sent")
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_have_count(0)

    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    expect(guardian).to_contain_text("Active")
    expect(page.get_by_text("Pending", exact=True)).to_be_visible()
    reason = guardian.get_by_label("Reason", exact=True)
    revoke = guardian.get_by_role("button", name="Revoke PIN", exact=True)
    # One deliberate step away: the first Revoke PIN opens the reason box and the one that revokes.
    expect(reason).to_be_hidden()
    revoke.click()
    expect(reason).to_be_visible()
    expect(revoke).to_be_visible()
    assert_accessible(page, "Patient Account page with Revoke PIN")
    shot(page, "20-account-revoke-pin")
    mark_document(page)

    # No reason: the message beside the field, which takes the focus; nothing is revoked.
    revoke.click()
    expect(guardian.get_by_text("Enter the reason for revoking.", exact=True)).to_be_visible()
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_be_focused()
    assert_accessible(page, "Revoke PIN without a reason")
    [row] = credential_rows(app, teen.id)
    assert row.revoked_at is None

    reason.fill("Parent asked for a new PIN")
    guardian.get_by_role("button", name="Revoke PIN", exact=True).click()
    expect(guardian).to_contain_text("Revoked")
    expect(guardian).to_contain_text("Parent asked for a new PIN")
    expect(guardian.get_by_role("status")).to_have_text("PIN revoked.")
    expect(guardian.get_by_role("status")).to_be_focused()
    expect(guardian.get_by_role("button", name="Revoke PIN", exact=True)).to_have_count(0)
    expect(page.get_by_text("Unregistered", exact=True)).to_be_visible()
    assert_same_document(page)
    assert_accessible(page, "Patient Account page after Revoke PIN")
    shot(page, "21-account-revoked")

    [row] = credential_rows(app, teen.id)
    assert row.revoked_at is not None and row.revoked_reason == "Parent asked for a new PIN"
