"""Issue 14: a date typed from a click just works. Clicking in the middle of `Date of Birth` used
to land in the year segment, so the typed digits went nowhere; the first click now puts the caret
in the month, and the `<input type="date">` stays. The audit trail's dates behave the same."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import assert_accessible, patient_link, sign_in
from tests.support.builders import make_patient, make_staff

pytestmark = pytest.mark.browser


def click_middle_and_type(page, field, digits: str) -> None:
    box = field.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.type(digits, delay=30)


def test_a_date_of_birth_typed_after_a_click_in_the_middle_is_searched(signed_in, live_server, app, practice):
    page = signed_in
    make_patient(app, practice, "Liam", "Nunn", date(2015, 3, 14))
    make_patient(app, practice, "Emma", "Carter", date(2015, 3, 15))
    dob = page.get_by_label("Date of Birth", exact=True)
    expect(dob).to_have_attribute("type", "date")

    click_middle_and_type(page, dob, "03142015")
    expect(dob).to_have_value("2015-03-14")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"dob=2015-03-14"))
    expect(patient_link(page, "Nunn, Liam")).to_be_visible()
    expect(patient_link(page, "Carter, Emma")).to_have_count(0)
    assert_accessible(page, "Patient Administration after a typed date of birth")

    # Once the field has the focus, a click picks the segment under it as usual: the day.
    box = dob.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    expect(dob).to_be_focused()


def test_the_audit_trail_dates_take_a_date_typed_after_a_click(browser_page, live_server, app, practice):
    page = browser_page
    make_staff(app, practice, "morgan", admin=True)
    sign_in(page, live_server, "morgan")
    page.goto(live_server("/practice/audit"))
    start = page.get_by_label("From", exact=True)
    expect(start).not_to_have_value("")  # it holds a date already: the typed one replaces it
    click_middle_and_type(page, start, "01022026")
    expect(start).to_have_value("2026-01-02")
