"""Issue 14, the registration window: one stable order of its groups with the actions always in
view at 1366x768, a line saying what the actions will do, a word for an already Registered patient,
printing the letter after a send, and contacts written as people write them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from blueprints.extensions import db
from models import AuditEvent, PortalLink, PortalUser
from tests.support.browser_pages import (
    PRINT_RECORDER,
    assert_accessible,
    credential_rows,
    open_account,
    open_registration,
    radio,
    shown_pin,
)

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}
GROUPS = ("Register Patient with", "Accessibility", "Send to", "Send by")
ACTIONS = ("Print PIN", "Send PIN / Verification Question", "Complete / Log In")


def _layout(page, dialog) -> dict:
    """Where each group and action is now: (x, y) of its box, and whether it is fully in view."""
    boxes = {name: dialog.get_by_role("group", name=name, exact=True).bounding_box() for name in GROUPS}
    for name in (*ACTIONS, "Cancel"):
        boxes[name] = dialog.get_by_role("button", name=name, exact=True).bounding_box()
    return boxes


def _in_view(box: dict) -> bool:
    return box["y"] >= 0 and box["y"] + box["height"] <= LAPTOP["height"] and box["x"] + box["width"] <= LAPTOP["width"]


def test_groups_keep_one_order_and_the_actions_stay_in_view(signed_in, live_server, teen, shot):
    page = signed_in
    page.set_viewport_size(LAPTOP)
    open_account(page, teen)
    dialog = open_registration(page)
    question = dialog.get_by_label("Question", exact=True)
    columns = None
    for method in ("PIN", "Verification Question"):
        radio(dialog, "Register Patient with", method).check()
        expect(question).to_have_count(1 if method == "Verification Question" else 0)
        for send_by in ("Email Address", "Text Message", "Do not send PIN"):
            radio(dialog, "Send by", send_by).check()
            expect(dialog.get_by_label("Cell phone", exact=True)).to_be_enabled(enabled=send_by == "Text Message")
            boxes = _layout(page, dialog)
            state = f"{method}, {send_by}"
            # Each group stays in its column, and the groups read in one order, whatever is chosen.
            now = {name: round(boxes[name]["x"]) for name in GROUPS}
            columns = columns or now
            assert now == columns, f"groups changed columns with {state}: {now} != {columns}"
            reading = sorted(GROUPS, key=lambda name: (round(boxes[name]["x"]), boxes[name]["y"]))
            assert reading == list(GROUPS), f"groups out of order with {state}: {reading}"
            for name in (*ACTIONS, "Cancel"):
                assert _in_view(boxes[name]), f"{name} is out of view at 1366x768 with {state}: {boxes[name]}"
            # Cancel alone on a row below the three actions.
            assert boxes["Cancel"]["y"] >= max(boxes[a]["y"] + boxes[a]["height"] for a in ACTIONS), state
            assert len({round(boxes[a]["y"]) for a in ACTIONS}) == 1, f"the actions are not on one row with {state}"
        assert_accessible(page, f"Patient Registration window at 1366x768 ({method})")
    # With Verification Question chosen and nothing sent, the fields outgrow nothing: still in view
    # with the pending warning above them too (the body scrolls, the actions stay).
    radio(dialog, "Send by", "Email Address").check()
    expect(dialog.get_by_label("Email", exact=True)).to_be_enabled()
    page.wait_for_timeout(100)  # the swap has settled
    path = shot(page, "issue14-window-verification-question")
    assert path.exists()


def test_the_line_above_the_actions_says_what_will_happen(signed_in, live_server, teen):
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    line = dialog.locator("#what-happens")
    send = dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True)
    print_pin = dialog.get_by_role("button", name="Print PIN", exact=True)

    expect(line).to_have_text("Emails a PIN to m•••@example.com. Print PIN also prints it.")
    expect(send).to_have_accessible_description("Emails a PIN to m•••@example.com. Print PIN also prints it.")
    expect(print_pin).to_have_accessible_description(re.compile("Emails a PIN"))

    email = dialog.get_by_label("Email", exact=True)
    email.fill("dad.nunez@example.org")
    email.press("Tab")
    expect(line).to_have_text("Emails a PIN to d•••@example.org. Print PIN also prints it.")

    radio(dialog, "Send by", "Text Message").check()
    expect(line).to_have_text("Texts a PIN to (617) 555-0143. Print PIN also prints it.")
    radio(dialog, "Send by", "Do not send PIN").check()
    expect(line).to_have_text("Nothing is sent: the PIN is shown here once, and Print PIN prints it.")
    radio(dialog, "Register Patient with", "Verification Question").check()
    expect(line).to_have_text("Nothing is sent: the verification question is shown here once, and Print PIN prints it.")
    assert_accessible(page, "Patient Registration window (the line, Do not send PIN)")


def test_a_registered_patient_is_named_in_the_window(signed_in, live_server, app, practice, teen):
    with app.app_context():
        user = PortalUser(practice_id=practice.id, email="maria.nunez@example.com")
        db.session.add(user)
        db.session.flush()
        db.session.add(PortalLink(portal_user_id=user.id, patient_id=teen.id, access_level="full"))
        db.session.commit()
    page = signed_in
    open_account(page, teen)
    expect(page.get_by_text("Registered", exact=True)).to_be_visible()
    dialog = open_registration(page)
    expect(dialog.get_by_text(re.compile(r"Already registered: m•••@example\.com has a portal account for this patient\."))).to_be_visible()
    assert "maria.nunez@example.com" not in dialog.locator("#registered-warning").inner_text()
    assert_accessible(page, "Patient Registration window (already registered)")


def test_after_a_send_the_letter_can_be_printed_while_the_pin_is_shown(signed_in, live_server, app, teen, mailbox):
    page = signed_in
    page.add_init_script(PRINT_RECORDER)
    page.reload()
    open_account(page, teen)
    dialog = open_registration(page)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    pin = shown_pin(dialog)
    expect(dialog.get_by_role("status")).to_contain_text("Sent by email to m")
    assert page.evaluate("window.__printCalls") == 0  # a send prints nothing by itself

    dialog.get_by_role("button", name="Print letter", exact=True).click()
    page.wait_for_function("() => window.__printCalls === 1")
    page.emulate_media(media="print")
    letter = page.locator(".print-letter")
    expect(letter).to_be_visible()
    expect(letter).to_contain_text(pin)
    expect(page.get_by_role("status")).to_be_hidden()
    page.emulate_media(media="screen")
    assert_accessible(page, "Patient Registration window (result with Print letter)")
    [row] = credential_rows(app, teen.id)
    assert len(mailbox.messages) == 1
    # The print is on the record, as Print PIN's is: who printed which PIN's letter.
    for _ in range(100):
        if _printed(app, teen.id):
            break
        page.wait_for_timeout(50)
    assert _printed(app, teen.id) == [("alex", f"PIN {row.id} letter")]


def _printed(app, patient_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.patient_id == patient_id, AuditEvent.action == "print").order_by(AuditEvent.id)
        ).all()
        return [(row.staff_username, row.detail) for row in rows]


def test_contacts_read_as_people_write_them(signed_in, live_server, app, teen):
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    radio(dialog, "Send by", "Text Message").check()
    expect(dialog.get_by_label("Cell phone", exact=True)).to_have_value("(617) 555-0143")
    radio(dialog, "Send by", "Email Address").check()
    email = dialog.get_by_label("Email", exact=True)
    email.fill("maria.nunez@")
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(email).to_have_accessible_description(
        "Enter the whole email address, with a name before the @ and a domain after it, like name@example.com.")
    expect(dialog.locator("#email-error")).not_to_have_text(re.compile(r"@-sign|\("))
    assert credential_rows(app, teen.id) == []
