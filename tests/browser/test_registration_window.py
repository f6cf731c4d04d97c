"""The Patient Registration window in Chromium: its toggles, validation, issuing by each of
its three buttons, the unofficial-name guard, focus handling and the keyboard-only workflow.
axe checks every state of the window; the console must stay free of CSP violations."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.support.browser_pages import (
    PIN_PATTERN,
    PRINT_RECORDER,
    assert_accessible,
    assert_focus_in_dialog,
    credential_count,
    credential_rows,
    is_focused,
    open_account,
    open_registration,
    patient_link,
    pdf_page_count,
    pdf_text,
    radio,
    shown_pin,
    tab_until_focused,
)
from tests.support.builders import STAFF_PASSWORD, make_patient
from tests.support.mail import text_of

pytestmark = pytest.mark.browser

def test_window_toggles_and_each_state_is_accessible(signed_in, live_server, app, teen, shot):
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    email = dialog.get_by_label("Email", exact=True)
    cell = dialog.get_by_label("Cell phone", exact=True)
    carrier = dialog.get_by_label("Cell Carrier", exact=True)
    question = dialog.get_by_label("Question", exact=True)
    answer = dialog.get_by_label("Answer", exact=True)

    # Defaults.
    expect(radio(dialog, "Register Patient with", "PIN")).to_be_checked()
    expect(radio(dialog, "Accessibility", "Full Access")).to_be_checked()
    expect(radio(dialog, "Send by", "Email Address")).to_be_checked()
    expect(radio(dialog, "Send to", "Parent/Guardian")).to_be_checked()  # Sofía is 14
    expect(email).to_be_enabled()
    expect(email).to_have_attribute("type", "email")
    expect(email).to_have_value("maria.nunez@example.com")
    expect(cell).to_be_disabled()
    expect(carrier).to_be_disabled()
    expect(question).to_have_count(0)
    for name in ("Print PIN", "Send PIN / Verification Question", "Complete / Log In", "Cancel"):
        expect(dialog.get_by_role("button", name=name, exact=True)).to_be_visible()
    assert_accessible(page, "Patient Registration window (default)")
    shot(page, "05-window-default")

    # Text Message enables Cell phone and Cell Carrier; a shut-down gateway is listed, disabled.
    radio(dialog, "Send by", "Text Message").check()
    expect(cell).to_be_enabled()
    expect(carrier).to_be_enabled()
    expect(email).to_be_disabled()
    expect(cell).to_have_attribute("type", "tel")
    expect(radio(dialog, "Send by", "Text Message")).to_be_checked()
    expect(carrier.get_by_role("option", name="AT&T (service ended)", exact=True)).to_be_disabled()
    expect(carrier.get_by_role("option", name="T-Mobile (service ended)", exact=True)).to_be_disabled()
    expect(carrier.get_by_role("option", name="Verizon", exact=True)).to_be_enabled()
    carrier.select_option(label="Verizon")
    expect(carrier).to_have_value(re.compile(r"\d+"))
    assert_accessible(page, "Patient Registration window (Text Message)")
    shot(page, "06-window-text-message")

    # Do not send PIN disables every contact field.
    radio(dialog, "Send by", "Do not send PIN").check()
    expect(email).to_be_disabled()
    expect(cell).to_be_disabled()
    expect(carrier).to_be_disabled()

    # Verification Question shows Question and Answer.
    radio(dialog, "Register Patient with", "Verification Question").check()
    expect(question).to_be_visible()
    expect(answer).to_be_visible()
    expect(radio(dialog, "Send by", "Do not send PIN")).to_be_checked()  # the choices survive
    assert_accessible(page, "Patient Registration window (Verification Question)")
    shot(page, "07-window-verification-question")

    # Invalid input: the same window with each message beside its field; nothing issued.
    answer.fill("x")
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(dialog.get_by_text("Enter the question the parent will answer.", exact=True)).to_be_visible()
    expect(dialog.get_by_text("Enter the answer (at least 2 characters).", exact=True)).to_be_visible()
    expect(question).to_have_attribute("aria-invalid", "true")
    expect(question).to_be_focused()  # the first field in error takes the focus
    expect(question).to_have_accessible_description(re.compile("Enter the question"))
    expect(dialog.get_by_role("status")).to_have_count(0)
    assert credential_count(app) == 0
    assert_accessible(page, "Patient Registration window (422 with errors)")
    shot(page, "08-window-errors")

    # Back to a PIN by email; choosing Minor clears the guardian's prefilled email.
    radio(dialog, "Register Patient with", "PIN").check()
    expect(question).to_have_count(0)
    radio(dialog, "Send by", "Email Address").check()
    expect(email).to_be_enabled()
    expect(email).to_have_value("maria.nunez@example.com")
    radio(dialog, "Send to", "Minor").check()
    expect(radio(dialog, "Send to", "Minor")).to_be_checked()
    expect(email).to_have_value("")
    expect(email).to_be_enabled()

    # The guardian's email typed back for the minor brings a warning beside the field.
    email.fill("maria.nunez@example.com")
    email.blur()
    expect(dialog.get_by_text(re.compile("guardian's email on file"))).to_be_visible()
    expect(email).to_have_accessible_description(re.compile("guardian's email on file"))
    assert credential_count(app) == 0


def test_quick_changes_in_two_groups_both_apply(signed_in, live_server, teen):
    """A second choice made while the first one's round trip is still out is not lost when the
    first answer arrives late (the answers are held until both requests have left)."""
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    held = []

    def hold(route):
        held.append(route)

    page.route("**/registration/form", hold)
    with page.expect_request("**/registration/form"):
        tab_until_focused(page, radio(dialog, "Accessibility", "Full Access"))
        page.keyboard.press("ArrowDown")
    with page.expect_request("**/registration/form"):
        tab_until_focused(page, radio(dialog, "Send by", "Email Address"))
        page.keyboard.press("ArrowDown")
    page.unroute("**/registration/form", hold)
    for route in held:  # the first answer first, then the second
        try:
            route.continue_()
        except PlaywrightError:
            pass  # the page gave up this request for the newer one
    expect(dialog.get_by_label("Cell phone", exact=True)).to_be_enabled()
    expect(radio(dialog, "Send by", "Text Message")).to_be_checked()
    expect(radio(dialog, "Accessibility", "Limited: No Chart Access")).to_be_checked()
    expect(dialog.get_by_label("Email", exact=True)).to_be_disabled()
    expect(radio(dialog, "Send by", "Text Message")).to_be_focused()


def test_a_choice_made_just_after_the_window_is_re_rendered_applies(signed_in, live_server, teen):
    """htmx binds a swapped-in window's triggers when it settles (20 ms later, more on a busy
    machine); a choice made in between must not be lost. The settle delay is stretched here so
    that the key press lands inside it every time."""
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    page.evaluate("htmx.config.defaultSettleDelay = 3000")
    page.evaluate("document.getElementById('registration-window').dataset.before = 'yes'")
    tab_until_focused(page, radio(dialog, "Accessibility", "Full Access"))
    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => !document.getElementById('registration-window').dataset.before")  # swapped
    tab_until_focused(page, radio(dialog, "Send by", "Email Address"))
    page.keyboard.press("ArrowDown")
    expect(radio(dialog, "Send by", "Text Message")).to_be_checked()
    expect(dialog.get_by_label("Cell phone", exact=True)).to_be_enabled(timeout=2000)  # before it settles
    expect(radio(dialog, "Accessibility", "Limited: No Chart Access")).to_be_checked()


def test_send_to_is_absent_for_an_eight_year_old(signed_in, live_server, child):
    page = signed_in
    open_account(page, child)
    dialog = open_registration(page)
    expect(radio(dialog, "Send by", "Email Address")).to_be_checked()
    expect(dialog.get_by_role("group", name="Send to", exact=True)).to_have_count(0)
    expect(dialog.get_by_role("radio", name="Minor", exact=True)).to_have_count(0)
    expect(dialog.get_by_text("Send to", exact=True)).to_have_count(0)
    expect(dialog.get_by_label("Email", exact=True)).to_have_value("dana.carter@example.com")


def test_send_pin_shows_it_once_and_mails_the_same_pin(signed_in, live_server, app, teen, mailbox, shot):
    page = signed_in
    open_account(page, teen)
    expect(page.get_by_text("Unregistered", exact=True)).to_be_visible()
    dialog = open_registration(page)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()

    pin = shown_pin(dialog)
    status = dialog.get_by_role("status")
    expect(status).to_contain_text("Expires:")
    expect(status).to_contain_text("Sent by email to m")
    expect(status).to_be_focused()
    # The result holds the focus too: Tab and Shift+Tab stay on its controls (Print letter, Close).
    for key in ("Shift+Tab", "Tab", "Tab", "Shift+Tab", "Tab"):
        page.keyboard.press(key)
        assert_focus_in_dialog(page)
    expect(dialog.get_by_role("button", name="Close", exact=True)).to_be_focused()
    # The account page behind the window already says Pending.
    expect(page.get_by_role("region", name="Parent/Guardian", exact=True)).to_contain_text("Active")
    expect(page.get_by_text("Pending", exact=True)).to_be_visible()
    assert_accessible(page, "Patient Registration window (result)")
    shot(page, "09-window-result")

    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == "maria.nunez@example.com"
    assert pin in text_of(message)
    [row] = credential_rows(app, teen.id)
    assert row.kind == "pin" and row.audience == "guardian" and row.send_by == "email"

    # Close: the PIN leaves the page with the window, and is never shown again.
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_text(pin)).to_have_count(0)
    expect(page.get_by_role("button", name="Register Patient", exact=True)).to_be_focused()
    page.reload()
    assert pin not in page.content()
    dialog = open_registration(page)
    expect(dialog.get_by_text(re.compile(r"is pending:\s+issued\s.*sent to m", re.S))).to_be_visible()
    expect(dialog.get_by_text(re.compile(PIN_PATTERN))).to_have_count(0)


def test_double_click_on_send_issues_one_pin(signed_in, live_server, app, teen, mailbox):
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    issuing = []
    page.on("request", lambda request: issuing.append(request) if request.method == "POST" and request.url.endswith("/registration") else None)
    finished = []
    page.on("requestfinished", lambda request: finished.append(request) if request in issuing else None)

    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).dblclick()
    pin = shown_pin(dialog)
    for _ in range(100):  # every submission the double click made has been answered
        if len(finished) == len(issuing):
            break
        page.wait_for_timeout(50)
    assert len(finished) == len(issuing) >= 1
    assert len(credential_rows(app, teen.id)) == 1
    assert len(mailbox.messages) == 1 and pin in text_of(mailbox.messages[0])
    expect(dialog.get_by_role("status")).to_contain_text(pin)  # the first result stays shown


def test_print_pin_prints_a_one_page_letter_from_the_window(signed_in, live_server, app, teen, mailbox, shot):
    page = signed_in
    page.add_init_script(PRINT_RECORDER)
    open_account(page, teen)
    dialog = open_registration(page)
    radio(dialog, "Send by", "Do not send PIN").check()
    expect(dialog.get_by_label("Email", exact=True)).to_be_disabled()
    dialog.get_by_role("button", name="Print PIN", exact=True).click()

    pin = shown_pin(dialog)
    expect(dialog.get_by_role("status")).to_contain_text("Not sent")
    page.wait_for_function("() => window.__printCalls === 1")
    assert mailbox.messages == []
    assert_accessible(page, "Patient Registration window (printed result)")

    page.emulate_media(media="print")
    letter = page.locator(".print-letter")
    expect(letter).to_be_visible()
    expect(letter).to_contain_text(pin)
    expect(letter).to_contain_text("Cedar Pediatrics")
    expect(letter).to_contain_text("for Sofía")
    expect(page.get_by_role("status")).to_be_hidden()  # only the letter is printed
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_hidden()
    shot(page, "10-printed-letter")
    pdf = page.pdf(format="Letter", print_background=True)
    assert pdf.startswith(b"%PDF")
    assert pdf_page_count(pdf) == 1, "the letter must fit one Letter page"
    printed = pdf_text(pdf)
    assert pin in printed and "Cedar Pediatrics" in printed and "Sofía" in printed
    assert "http://portal.example.test/portal/register" in printed
    for screen_only in ("Patient Registration", "Sign out", "Núñez", "Print letter again", "Close"):
        assert screen_only not in printed, f"{screen_only!r} is printed with the letter"
    page.emulate_media(media="screen")

    # Print letter again prints the same letter; the PIN is in no URL.
    dialog.get_by_role("button", name="Print letter again", exact=True).click()
    page.wait_for_function("() => window.__printCalls === 2")
    assert pin.replace("-", "") not in page.url and pin not in page.url
    assert len(credential_rows(app, teen.id)) == 1


def test_complete_log_in_opens_the_portal_registration_page_in_a_new_tab(signed_in, live_server, context, app, teen, mailbox, shot):
    # Welcome messages and the desk link point at the live server's own portal page.
    app.config["PORTAL_URL"] = live_server("/portal/register")
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    with context.expect_page() as new_tab:
        dialog.get_by_role("button", name="Complete / Log In", exact=True).click()
    portal = new_tab.value
    expect(portal).to_have_url(re.compile(re.escape(live_server("/portal/register")) + r"\?practice=cedar-pediatrics&desk=[\w.-]+"))
    expect(portal.get_by_role("heading", name="Create your Patient Portal account", exact=True)).to_be_visible()
    expect(portal.get_by_label("Email", exact=True)).to_be_visible()
    expect(portal.get_by_label("Password", exact=True)).to_be_visible()
    expect(portal.get_by_label("I accept the Terms & Conditions", exact=True)).to_be_visible()
    expect(portal.get_by_role("button", name="Create My Account", exact=True)).to_be_visible()
    # A desk token stands in for the PIN: neither PIN nor date of birth is asked.
    expect(portal.get_by_label("PIN", exact=True)).to_have_count(0)
    expect(portal.get_by_label("Patient date of birth", exact=True)).to_have_count(0)
    assert_accessible(portal, "Patient Portal registration (desk token)")
    shot(portal, "11-portal-register-desk")

    pin = shown_pin(dialog)
    assert pin not in portal.url
    expect(dialog.get_by_role("link", name="Open the Patient Portal registration page", exact=True)).to_be_visible()
    assert len(credential_rows(app, teen.id)) == 1
    assert len(mailbox.messages) == 1

    # The portal page as a parent opens it from the letter or the email: PIN and date of birth.
    portal.goto(live_server("/portal/register"))
    expect(portal.get_by_label("PIN", exact=True)).to_be_visible()
    expect(portal.get_by_label("Patient date of birth", exact=True)).to_be_visible()
    assert_accessible(portal, "Patient Portal registration (PIN)")
    shot(portal, "12-portal-register-pin")


def test_dialog_holds_focus_and_escape_returns_it_to_register_patient(signed_in, live_server, teen):
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    expect(radio(dialog, "Register Patient with", "PIN")).to_be_focused()
    # Twice round: one stop per radio group, disabled Cell phone and Cell Carrier skipped.
    one_round = ["Full Access", "Parent/Guardian", "Email Address", "Email", "Print PIN",
                 "Send PIN / Verification Question", "Complete / Log In", "Cancel", "PIN"]
    seen = []
    for _ in range(2 * len(one_round)):
        page.keyboard.press("Tab")
        seen.append(assert_focus_in_dialog(page))
    assert seen == one_round * 2
    expect(radio(dialog, "Register Patient with", "PIN")).to_be_focused()
    page.keyboard.press("Shift+Tab")  # backwards from the first control wraps to the last
    expect(dialog.get_by_role("button", name="Cancel", exact=True)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Complete / Log In", exact=True)).to_be_focused()

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Register Patient", exact=True)).to_be_focused()

    # Cancel closes it the same way.
    dialog = open_registration(page)
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Register Patient", exact=True)).to_be_focused()


def test_the_test_browser_blocks_popups_as_staff_browsers_do(page):
    """Complete / Log In is only proven to work under a popup blocker if there is one."""
    # A document's own script, with no click: a popup blocker refuses it.
    page.goto("data:text/html,<script>window.opened = window.open('about:blank', '_blank') !== null;</script>")
    assert page.evaluate("window.opened") is False
    assert len(page.context.pages) == 1


def test_baby_boy_is_refused_until_update_basic_info_saves_a_given_name(signed_in, live_server, app, practice, mailbox, shot):
    baby = make_patient(app, practice, "Baby Boy", "Núñez", date.today() - timedelta(days=27), guardian_email="maria.nunez@example.com")
    page = signed_in
    open_account(page, baby)
    dialog = open_registration(page)
    expect(dialog.get_by_role("alert")).to_contain_text("given name")
    expect(dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True)).to_have_count(0)
    assert_accessible(page, "Patient Registration window (Baby Boy refusal)")
    shot(page, "13-baby-boy-refusal")

    dialog.get_by_role("link", name="Update Basic Info", exact=True).click()
    expect(page.get_by_role("heading", name="Update Basic Info", exact=True, level=1)).to_be_visible()
    first_name = page.get_by_label("First name", exact=True)
    expect(first_name).to_have_value("Baby Boy")
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    assert_accessible(page, "Update Basic Info")
    shot(page, "14-update-basic-info")

    # A placeholder is refused beside the field.
    first_name.fill("Baby Girl")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(re.compile("given name, not a placeholder"))).to_be_visible()
    expect(page.get_by_label("First name", exact=True)).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "Update Basic Info with an error")

    page.get_by_label("First name", exact=True).fill("Mateo")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name="Núñez, Mateo", level=1, exact=True)).to_be_visible()
    expect(page.get_by_text("Basic info saved.", exact=True)).to_be_visible()

    # The given name was what stood in the way: the window opens by itself.
    dialog = page.get_by_role("dialog", name="Patient Registration", exact=True)
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("alert")).to_have_count(0)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    pin = shown_pin(dialog)
    assert len(mailbox.messages) == 1 and pin in text_of(mailbox.messages[0])
    assert len(credential_rows(app, baby.id)) == 1


def test_keyboard_alone_from_sign_in_to_an_issued_pin(browser_page, live_server, app, staff, teen, child, mailbox):
    page = browser_page
    page.goto(live_server("/signin"))
    expect(page.get_by_label("Username", exact=True)).to_be_focused()  # autofocus
    page.keyboard.type("alex")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(STAFF_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Patient Administration", level=1, exact=True)).to_be_visible()

    last_name = page.get_by_label("Last name", exact=True)
    expect(last_name).to_be_focused()  # autofocus
    page.keyboard.type("nunez")
    sofia = patient_link(page, "Núñez, Sofía")
    expect(sofia).to_be_visible()
    expect(last_name).to_be_focused()  # results arrive without taking the focus

    # Tab to the row's Select and press Enter.
    select = page.get_by_role("row").filter(has=sofia).get_by_role("link", name="Select", exact=True)
    tab_until_focused(page, select)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Núñez, Sofía", level=1, exact=True)).to_be_visible()

    register = page.get_by_role("button", name="Register Patient", exact=True)
    tab_until_focused(page, register)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Patient Registration", exact=True)
    expect(dialog).to_be_visible()
    expect(radio(dialog, "Register Patient with", "PIN")).to_be_focused()

    # Arrow keys choose within a radio group: Limited access, then Text Message.
    tab_until_focused(page, radio(dialog, "Accessibility", "Full Access"))
    page.keyboard.press("ArrowDown")
    expect(radio(dialog, "Accessibility", "Limited: No Chart Access")).to_be_checked()
    expect(radio(dialog, "Accessibility", "Limited: No Chart Access")).to_be_focused()

    tab_until_focused(page, radio(dialog, "Send by", "Email Address"))
    page.keyboard.press("ArrowDown")
    text_message = radio(dialog, "Send by", "Text Message")
    expect(text_message).to_be_checked()
    cell = dialog.get_by_label("Cell phone", exact=True)
    expect(cell).to_be_enabled()
    expect(text_message).to_be_focused()  # the re-rendered window keeps the focus in place

    tab_until_focused(page, cell)
    expect(cell).to_have_value("(617) 555-0143")  # as people write it (issue 14)
    carrier = dialog.get_by_label("Cell Carrier", exact=True)
    page.keyboard.press("Tab")
    expect(carrier).to_be_focused()
    # Pick Verizon by typing its first letter, as on a closed select.
    page.keyboard.type("V")
    expect(carrier.get_by_role("option", name="Verizon", exact=True)).to_have_js_property("selected", True)

    send = dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True)
    tab_until_focused(page, send)
    page.keyboard.press("Space")
    pin = shown_pin(dialog)
    expect(dialog.get_by_role("status")).to_contain_text("Sent by text message to")
    [row] = credential_rows(app, teen.id)
    assert row.access_level == "limited" and row.send_by == "text"
    assert len(mailbox.messages) == 1
    assert mailbox.messages[0]["X-Envelope-To"] == "6175550143@vtext.com"
    assert pin in text_of(mailbox.messages[0])

    # Still from the keyboard: Escape closes the result, focus goes back to Register Patient.
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(register).to_be_focused()
    assert is_focused(register)
