"""The parent's pages on a phone: a refused form keeps what was typed and never carries a password
back; every page names the practice; the Terms & Conditions are the practice's own; Limited access
leads somewhere; the desk's page offers the email staff entered; signing out says so."""

from __future__ import annotations

import base64
import html
import json
import re
import zlib

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from blueprints.extensions import db
from models import AuditEvent, RegistrationCredential, utcnow
from services.credentials.redemption import FAILURE_MESSAGE
from tests.support.browser_pages import assert_accessible, open_account, open_registration, sign_in
from tests.support.builders import make_staff
from tests.support.portal import PARENT_PASSWORD, issue_pin
from tests.support.staff_screens import issue, signed_in_admin

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PRACTICE_LINK = "/portal/register?practice=cedar-pediatrics"


@pytest.fixture
def phone(browser):
    """A parent's phone: a browser context of its own, 390x844."""
    context = browser.new_context(viewport=PHONE)
    yield context.new_page()
    context.close()


def fill_registration(page, email: str, password: str, dob: str | None, pin: str | None) -> None:
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    if dob is not None:
        page.get_by_label("Patient date of birth", exact=True).fill(dob)
    if pin is not None:
        page.get_by_label("PIN", exact=True).fill(pin)
    page.get_by_label("I accept the Terms & Conditions", exact=True).check()


def submit(page, button: str, path: str) -> str:
    """Click the form's button; the body of the POST's answer."""
    with page.expect_response(lambda r: r.request.method == "POST" and path in r.url) as answer:
        page.get_by_role("button", name=button, exact=True).click()
    return answer.value.text()


def register_and_sign_in(page, live_server, child, pin: str, email: str = "dana.carter@example.com") -> None:
    page.goto(live_server(PRACTICE_LINK))
    fill_registration(page, email, PARENT_PASSWORD, child.date_of_birth.isoformat(), pin)
    page.get_by_role("button", name="Create My Account", exact=True).click()
    expect(page.get_by_role("heading", name="Your Patient Portal", level=1)).to_be_visible()


def test_a_wrong_pin_keeps_the_password_typed_and_no_answer_carries_it_back(live_server, phone, staff_client, child, shot):
    pin = issue_pin(staff_client, child.id, send_by="none")
    page = phone
    page.goto(live_server(PRACTICE_LINK))
    fill_registration(page, "dana.carter@example.com", PARENT_PASSWORD, child.date_of_birth.isoformat(), "ZZZZ-ZZZZ")
    body = submit(page, "Create My Account", "/portal/register")

    expect(page.get_by_role("alert")).to_contain_text(FAILURE_MESSAGE)
    expect(page.get_by_label("Password", exact=True)).to_have_value(PARENT_PASSWORD)
    expect(page.get_by_label("Email", exact=True)).to_have_value("dana.carter@example.com")
    expect(page.get_by_text("Registering with Cedar Pediatrics", exact=True)).to_be_visible()
    assert PARENT_PASSWORD not in body and "maple" not in body
    shot(page, "30-portal-register-wrong-pin")
    assert_accessible(page, "portal registration after a wrong PIN")

    # A password refused by its rules is said in the messages too; the field keeps it.
    page.get_by_label("Password", exact=True).fill("short")
    body = submit(page, "Create My Account", "/portal/register")
    expect(page.get_by_role("alert")).to_contain_text("Use at least 12 characters.")
    expect(page.get_by_label("Password", exact=True)).to_have_value("short")
    assert "short" not in body.replace("Use at least", "")

    # The right PIN: the page goes on to the portal's home.
    page.get_by_label("Password", exact=True).fill(PARENT_PASSWORD)
    page.get_by_label("PIN", exact=True).fill(pin)
    page.get_by_role("button", name="Create My Account", exact=True).click()
    expect(page.get_by_role("heading", name="Your Patient Portal", level=1)).to_be_visible()


def test_without_javascript_a_wrong_pin_gets_the_whole_page_with_no_password_in_it(live_server, browser, practice, child):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(live_server(PRACTICE_LINK))
        fill_registration(page, "dana.carter@example.com", PARENT_PASSWORD, child.date_of_birth.isoformat(), "ZZZZ-ZZZZ")
        with page.expect_navigation():
            body = submit(page, "Create My Account", "/portal/register")
        expect(page.get_by_role("alert")).to_contain_text(FAILURE_MESSAGE)
        expect(page.get_by_label("Password", exact=True)).to_have_value("")
        assert PARENT_PASSWORD not in body
        # The page after the refused POST still names the practice and links its terms.
        expect(page.get_by_text("Registering with Cedar Pediatrics", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="Terms & Conditions", exact=True)).to_have_attribute(
            "href", "/portal/terms?practice=cedar-pediatrics")
    finally:
        context.close()


def test_a_wrong_password_at_sign_in_keeps_what_was_typed(live_server, phone, staff_client, child):
    register_and_sign_in(phone, live_server, child, issue_pin(staff_client, child.id, send_by="none"))
    page = phone
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.get_by_label("Email", exact=True).fill("dana.carter@example.com")
    page.get_by_label("Password", exact=True).fill(PARENT_PASSWORD + "x")
    body = submit(page, "Sign in", "/portal/signin")
    expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
    expect(page.get_by_label("Password", exact=True)).to_have_value(PARENT_PASSWORD + "x")
    assert PARENT_PASSWORD not in body
    page.get_by_label("Password", exact=True).fill(PARENT_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Your Patient Portal", level=1)).to_be_visible()


def test_the_terms_are_a_link_to_the_practices_own_words_set_in_practice_settings(live_server, browser_page, phone, app, practice):
    page = phone
    page.goto(live_server(PRACTICE_LINK))
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Terms & Conditions", exact=True).click()
    terms = opened.value
    expect(terms.get_by_role("heading", name="Terms & Conditions", level=1)).to_be_visible()
    expect(terms.get_by_text("Cedar Pediatrics", exact=True)).to_be_visible()
    expect(terms.get_by_text("The portal is not for emergencies.", exact=False)).to_be_visible()
    assert_accessible(terms, "terms (built-in wording)")

    # A practice admin writes the practice's own; it is shown as text, paragraph by paragraph.
    make_staff(app, practice, "morgan", admin=True)
    admin = browser_page
    sign_in(admin, live_server, "morgan")
    admin.get_by_role("link", name="Practice Settings", exact=True).click()
    box = admin.get_by_label("Terms & Conditions", exact=True)
    expect(box).to_contain_text("By creating a Patient Portal account")
    box.fill("Cedar's own terms, <b>in plain text</b>.\n\nA second paragraph.")
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.get_by_text("Practice settings saved.")).to_be_visible()
    assert_accessible(admin, "practice settings")
    box.fill("   ")
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.get_by_text("Enter the Terms & Conditions your parents accept.")).to_be_visible()

    terms.reload()
    paragraphs = terms.locator(".terms p")
    expect(paragraphs).to_have_count(2)
    expect(paragraphs.first).to_have_text("Cedar's own terms, <b>in plain text</b>.")
    expect(paragraphs.nth(1)).to_have_text("A second paragraph.")
    expect(terms.locator(".terms b")).to_have_count(0)
    with app.app_context():
        details = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.staff_username == "morgan")).all()
    assert "PIN lifetime 7 days; Terms & Conditions changed" in details


def test_every_portal_page_names_the_practice(live_server, phone, staff_client, child):
    pin = issue_pin(staff_client, child.id, send_by="none")
    page = phone
    for path in ("/portal/signin?practice=cedar-pediatrics", "/portal/forgot-password?practice=cedar-pediatrics",
                 "/portal/terms?practice=cedar-pediatrics", "/portal/register?practice=cedar-pediatrics&vq=dead",
                 "/portal/reset-password?practice=cedar-pediatrics&token=dead"):
        page.goto(live_server(path))
        expect(page.locator(".portal-practice")).to_contain_text("Cedar Pediatrics")
        assert_accessible(page, path)
    for path in ("/portal/signin", "/portal/register?practice=no-such-practice"):
        page.goto(live_server(path))
        expect(page.get_by_text("Patient Portal", exact=True)).to_be_visible()
        expect(page.get_by_text("Cedar Pediatrics")).to_have_count(0)

    # Signed in, the pages name the account's practice, with no ?practice= in the address.
    register_and_sign_in(page, live_server, child, pin)
    expect(page.get_by_text("Cedar Pediatrics", exact=True)).to_be_visible()
    page.get_by_role("link", name="Add another child", exact=True).click()
    expect(page.get_by_text("Cedar Pediatrics", exact=True)).to_be_visible()
    assert_accessible(page, "add another child")
    page.get_by_role("link", name="Your patients", exact=True).click()
    page.get_by_role("link", name="My Chart for Emma", exact=True).click()
    expect(page.get_by_text("Cedar Pediatrics", exact=True)).to_be_visible()
    assert_accessible(page, "my chart")


def test_the_desk_page_names_the_practice_its_token_names(live_server, phone, staff_client, child, app):
    app.config["PORTAL_URL"] = live_server("/portal/register")
    response = issue(staff_client, child.id, send_by="none", action="complete")
    token = re.search(r"desk=([\w.-]+)", html.unescape(response.get_data(as_text=True))).group(1)
    # The token alone, without the link's ?practice=.
    phone.goto(live_server(f"/portal/register?desk={token}"))
    expect(phone.get_by_text("Registering with Cedar Pediatrics", exact=True)).to_be_visible()


def test_a_link_that_dies_before_the_form_is_sent_gets_its_whole_page(live_server, phone, staff_client, child, app):
    response = issue(staff_client, child.id, send_by="none", action="complete")
    token = re.search(r"desk=([\w.-]+)", html.unescape(response.get_data(as_text=True))).group(1)
    phone.goto(live_server(f"/portal/register?practice=cedar-pediatrics&desk={token}"))
    fill_registration(phone, "dana.carter@example.com", PARENT_PASSWORD, None, None)
    with app.app_context():
        for credential in db.session.scalars(select(RegistrationCredential)):
            credential.revoked_at, credential.revoked_reason = utcnow(), "test"
        db.session.commit()
    phone.get_by_role("button", name="Create My Account", exact=True).click()
    expect(phone.get_by_role("heading", name="This link is no longer valid", level=1)).to_be_visible()
    expect(phone.get_by_role("heading", name="Create your Patient Portal account")).to_have_count(0)
    assert_accessible(phone, "dead desk link")


def test_the_home_page_says_your_patients_once(live_server, phone, staff_client, child):
    register_and_sign_in(phone, live_server, child, issue_pin(staff_client, child.id, send_by="none"))
    expect(phone.get_by_text("Your patients", exact=True)).to_have_count(1)
    expect(phone.get_by_role("heading", name="Your patients", level=2)).to_be_visible()
    expect(phone.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    assert_accessible(phone, "portal home")


def test_limited_access_says_what_to_do_and_leads_back(live_server, phone, staff_client, child):
    register_and_sign_in(phone, live_server, child, issue_pin(staff_client, child.id, send_by="none", access="limited"))
    page = phone
    expect(page.get_by_text("Limited: No Chart Access", exact=True)).to_be_visible()
    page.goto(live_server(f"/portal/patients/{child.id}/chart"))
    expect(page.get_by_role("heading", name="Limited access", level=1)).to_be_visible()
    expect(page.get_by_text("ask Cedar Pediatrics to give this account full access", exact=False)).to_be_visible()
    assert_accessible(page, "limited access")
    page.get_by_role("link", name="Back to your patients", exact=True).click()
    expect(page.get_by_role("heading", name="Your Patient Portal", level=1)).to_be_visible()
    page.goto(live_server(f"/portal/patients/{child.id}/chart"))
    page.get_by_role("button", name="Sign out of the Patient Portal", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")


def _token_payload(token: str) -> str:
    """What anyone can read in an itsdangerous token: its first part, base64 (maybe zlib'd) JSON."""
    part = token.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    if token.startswith("."):
        raw = zlib.decompress(raw)
    return json.dumps(json.loads(raw))


def test_complete_log_in_offers_the_email_staff_entered(signed_in, live_server, context, app, child, mailbox):
    app.config["PORTAL_URL"] = live_server("/portal/register")
    page = signed_in
    open_account(page, child)
    dialog = open_registration(page)
    dialog.get_by_label("Email", exact=True).fill("dana.new@example.com")
    with context.expect_page() as new_tab:
        dialog.get_by_role("button", name="Complete / Log In", exact=True).click()
    portal = new_tab.value
    expect(portal.get_by_label("Email", exact=True)).to_have_value("dana.new@example.com")
    token = re.search(r"desk=([\w.-]+)", portal.url).group(1)
    assert "dana.new" not in _token_payload(token)
    assert_accessible(portal, "registration at the desk")

    # At the desk nobody is signed in: the whole page says the account is ready.
    portal.get_by_label("Password", exact=True).fill(PARENT_PASSWORD)
    portal.get_by_label("I accept the Terms & Conditions", exact=True).check()
    portal.get_by_role("button", name="Create My Account", exact=True).click()
    expect(portal.get_by_role("heading", name="Your account is ready", level=1)).to_be_visible()
    expect(portal.get_by_text("Cedar Pediatrics", exact=True)).to_be_visible()
    assert_accessible(portal, "account ready at the desk")


def test_signing_out_says_so_for_staff_and_for_parents(signed_in, live_server, phone, app, practice, child):
    page = signed_in
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    assert_accessible(page, "staff sign-in after signing out")
    page.goto(live_server("/signin?signed_out=%3Cb%3EPay+here%3C%2Fb%3E"))
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    expect(page.get_by_text("Pay here")).to_have_count(0)

    register_and_sign_in(phone, live_server, child, issue_pin(signed_in_admin(app, practice), child.id, send_by="none"))
    phone.get_by_role("button", name="Sign out", exact=True).click()
    expect(phone.get_by_role("heading", name="Sign in to the Patient Portal", level=1)).to_be_visible()
    expect(phone.get_by_role("status")).to_have_text("You have signed out.")
    expect(phone.get_by_text("Cedar Pediatrics", exact=True)).to_be_visible()
    assert_accessible(phone, "portal sign-in after signing out")
