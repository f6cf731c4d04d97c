"""A parent redeems the mailed PIN in a browser of their own, and adds a second child."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import assert_accessible, open_account, open_registration, shown_pin
from tests.support.builders import make_patient
from tests.support.mail import text_of
from tests.support.portal import PARENT_PASSWORD

pytestmark = pytest.mark.browser


def test_staff_issue_a_parent_registers_and_adds_a_second_child(signed_in, live_server, app, practice, child, browser, mailbox, shot):
    sibling = make_patient(app, practice, "Liam", "Carter", child.date_of_birth.replace(year=child.date_of_birth.year + 2),
                           guardian_email="dana.carter@example.com")
    page = signed_in
    pins = {}
    for patient in (child, sibling):
        page.goto(live_server("/patients"))
        open_account(page, patient)
        dialog = open_registration(page)
        dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
        shown = shown_pin(dialog)
        mailed = re.search(r"PIN: (\S{4}-\S{4})", text_of(mailbox.messages[-1])).group(1)
        assert mailed == shown
        pins[patient.first_name] = mailed
        dialog.get_by_role("button", name="Close", exact=True).click()

    # The parent, on a phone-sized screen, in a browser context of their own.
    parent_context = browser.new_context(viewport={"width": 390, "height": 844})
    parent = parent_context.new_page()
    try:
        parent.goto(live_server("/portal/register"))
        assert_accessible(parent, "portal registration")
        parent.get_by_label("Email", exact=True).fill("dana.carter@example.com")
        parent.get_by_label("Password", exact=True).fill(PARENT_PASSWORD)
        parent.get_by_label("Patient date of birth", exact=True).fill(child.date_of_birth.isoformat())
        parent.get_by_label("PIN", exact=True).fill(pins["Emma"].lower().replace("-", " "))
        parent.get_by_label("I accept the Terms & Conditions", exact=True).check()
        parent.get_by_role("button", name="Create My Account", exact=True).click()
        expect(parent.get_by_role("heading", name="Your Patient Portal", level=1)).to_be_visible()
        expect(parent.get_by_role("listitem").filter(has_text="Emma")).to_be_visible()
        shot(parent, "20-portal-home")
        assert_accessible(parent, "portal home")

        parent.get_by_role("link", name="Add another child", exact=True).click()
        parent.get_by_label("Patient date of birth", exact=True).fill(sibling.date_of_birth.isoformat())
        parent.get_by_label("PIN", exact=True).fill(pins["Liam"])
        assert_accessible(parent, "add another child")
        parent.get_by_role("button", name="Add child", exact=True).click()
        expect(parent.get_by_role("listitem").filter(has_text="Liam")).to_be_visible()
        expect(parent.get_by_role("listitem").filter(has_text="Emma")).to_be_visible()
        shot(parent, "21-portal-home-two-children")
    finally:
        parent_context.close()

    # Staff find both under Search by: Registered.
    page.goto(live_server("/patients"))
    page.get_by_label("Search by", exact=True).select_option(label="Registered")
    page.get_by_role("button", name="Search", exact=True).click()
    for name in ("Carter, Emma", "Carter, Liam"):
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
        expect(row.get_by_role("cell", name="Registered", exact=True)).to_be_visible()
