"""Sign in and Patient Administration in Chromium: search while typing without a page load,
the Search button, reload and back, Select, User mode; axe on each screen."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from blueprints.extensions import db
from models import PortalLink, PortalUser
from tests.support.browser_pages import assert_accessible, assert_same_document, mark_document, patient_link, sign_in
from tests.support.builders import make_patient

pytestmark = pytest.mark.browser


def test_sign_in_page_is_accessible_and_signs_in(browser_page, live_server, staff, shot):
    page = browser_page
    page.goto(live_server("/patients"))
    expect(page).to_have_url(re.compile(r"/signin"))
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    assert_accessible(page, "Sign in")
    shot(page, "01-sign-in")

    page.get_by_label("Username", exact=True).fill("alex")
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    assert_accessible(page, "Sign in with an error")

    sign_in(page, live_server)
    expect(page).to_have_url(re.compile(r"/patients$"))
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Patient Administration", exact=True)).to_be_visible()


def test_search_while_typing_updates_results_without_a_page_load(signed_in, live_server, app, practice, teen, child, shot):
    page = signed_in
    make_patient(app, practice, "Mateo", "Nuñez-Ortiz", date(2019, 1, 2))
    make_patient(app, practice, "Liam", "Nunn", date(2015, 7, 8))
    region = page.get_by_role("region", name="Search Patients", exact=True)
    expect(region).to_be_visible()
    expect(region.get_by_role("button", name="Account", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(region.get_by_role("button", name="User", exact=True)).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_label("Search by", exact=True)).to_have_value("all")
    mark_document(page)

    # Typing searches (debounced), accents ignored, and the URL carries the search via pushState.
    page.get_by_label("Last name", exact=True).press_sequentially("nun", delay=30)
    expect(page).to_have_url(re.compile(r"/patients\?.*last=nun"))
    table = page.get_by_role("table")
    expect(table).to_be_visible()
    for header in ("Name", "Date of Birth", "Status", "Actions"):
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    expect(patient_link(page, "Núñez, Sofía")).to_be_visible()
    expect(patient_link(page, "Nunn, Liam")).to_be_visible()
    expect(patient_link(page, "Carter, Emma")).to_have_count(0)
    assert_same_document(page)

    page.get_by_label("Last name", exact=True).press_sequentially("ez", delay=30)
    expect(page).to_have_url(re.compile(r"last=nunez"))
    expect(patient_link(page, "Nunn, Liam")).to_have_count(0)
    expect(patient_link(page, "Núñez, Sofía")).to_be_visible()
    expect(patient_link(page, "Nuñez-Ortiz, Mateo")).to_be_visible()
    assert_same_document(page)
    assert_accessible(page, "Patient Administration with results")
    shot(page, "02-search-results")

    # The Search button: still no page load, and the URL follows.
    page.get_by_label("First name", exact=True).fill("sof")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"first=sof"))
    expect(patient_link(page, "Nuñez-Ortiz, Mateo")).to_have_count(0)
    expect(patient_link(page, "Núñez, Sofía")).to_be_visible()
    assert_same_document(page)

    # Nothing found.
    page.get_by_label("First name", exact=True).fill("zzz")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_text("No patients found", exact=True)).to_be_visible()
    assert_same_document(page)

    # Back to the previous search: the URL and the results come back.
    page.go_back()
    expect(page).to_have_url(re.compile(r"first=sof"))
    expect(patient_link(page, "Núñez, Sofía")).to_be_visible()
    expect(page.get_by_text("No patients found", exact=True)).to_have_count(0)

    # Reload: a full page with the same results and the search fields filled in.
    page.reload()
    expect(page.get_by_label("Last name", exact=True)).to_have_value("nunez")
    expect(page.get_by_label("First name", exact=True)).to_have_value("sof")
    expect(patient_link(page, "Núñez, Sofía")).to_be_visible()
    expect(patient_link(page, "Nuñez-Ortiz, Mateo")).to_have_count(0)

    # Select opens the Patient Account page.
    row = page.get_by_role("row").filter(has=patient_link(page, "Núñez, Sofía"))
    row.get_by_role("link", name="Select", exact=True).click()
    expect(page.get_by_role("heading", name="Núñez, Sofía", level=1, exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/patients/{teen.id}$"))
    expect(page.get_by_text(f"{teen.date_of_birth:%m/%d/%Y}", exact=True)).to_be_visible()
    expect(page.get_by_text("14 years", exact=True)).to_be_visible()
    expect(page.get_by_text("Unregistered", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Account Settings", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Register Patient", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    assert_accessible(page, "Patient Account")
    shot(page, "03-account")

    # Back from the account page: the search page with its results, from the URL.
    page.go_back()
    expect(patient_link(page, "Núñez, Sofía")).to_be_visible()
    expect(page.get_by_label("First name", exact=True)).to_have_value("sof")


def test_search_by_date_of_birth_and_status_with_a_pasted_link(signed_in, live_server, teen, child):
    page = signed_in
    born = child.date_of_birth
    page.goto(live_server(f"/patients?dob={born:%m/%d/%Y}&status=all"))  # MM/DD/YYYY in a pasted link
    expect(page.get_by_label("Date of Birth", exact=True)).to_have_value(born.isoformat())
    expect(patient_link(page, "Carter, Emma")).to_be_visible()
    expect(patient_link(page, "Núñez, Sofía")).to_have_count(0)

    mark_document(page)
    page.get_by_label("Date of Birth", exact=True).fill("")
    page.get_by_label("Search by", exact=True).select_option(label="Unregistered")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"status=unregistered"))
    expect(patient_link(page, "Núñez, Sofía")).to_be_visible()
    expect(patient_link(page, "Carter, Emma")).to_be_visible()
    page.get_by_label("Search by", exact=True).select_option(label="Registered")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_text("No patients found", exact=True)).to_be_visible()
    assert_same_document(page)


def test_user_mode_lists_portal_users_and_opens_linked_accounts(signed_in, live_server, app, practice, teen, child, shot):
    with app.app_context():
        user = PortalUser(practice_id=practice.id, email="maria.nunez@example.com")
        db.session.add(user)
        db.session.flush()
        db.session.add_all([
            PortalLink(portal_user_id=user.id, patient_id=teen.id, access_level="full"),
            PortalLink(portal_user_id=user.id, patient_id=child.id, access_level="limited"),
        ])
        db.session.commit()

    page = signed_in
    page.get_by_role("button", name="User", exact=True).click()
    expect(page.get_by_role("button", name="User", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Account", exact=True)).to_have_attribute("aria-pressed", "false")
    mark_document(page)
    page.get_by_label("Email", exact=True).press_sequentially("maria", delay=30)
    table = page.get_by_role("table")
    for header in ("Email", "Patients", "Access"):
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    expect(table.get_by_role("cell", name="maria.nunez@example.com", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"mode=user.*email=maria|email=maria.*mode=user"))
    assert_same_document(page)
    assert_accessible(page, "Patient Administration, User mode")
    shot(page, "04-user-mode")

    patient_link(page, "Carter, Emma").click()
    expect(page.get_by_role("heading", name="Carter, Emma", level=1, exact=True)).to_be_visible()
