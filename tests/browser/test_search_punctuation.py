"""Typing a name as a receptionist hears it (issue 14): no apostrophe, no hyphen, one part of a
two-part surname. Patient Administration finds the patient while typing, in Chromium."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import assert_accessible, patient_link
from tests.support.builders import make_patient

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("typed, found", [
    ("obrien", "O'Brien, Liam"),
    ("smith jones", "Smith-Jones, Ava"),
    ("jones", "Smith-Jones, Ava"),
    ("lopez", "García López, Mateo"),
])
def test_a_name_typed_without_its_punctuation_or_first_part_is_found(signed_in, app, practice, typed, found):
    make_patient(app, practice, "Liam", "O'Brien", date(2016, 4, 1))
    make_patient(app, practice, "Ava", "Smith-Jones", date(2017, 5, 2))
    make_patient(app, practice, "Mateo", "García López", date(2018, 6, 3))
    make_patient(app, practice, "Noah", "Obi", date(2019, 7, 4))
    page = signed_in
    page.get_by_label("Last name", exact=True).press_sequentially(typed, delay=20)
    expect(patient_link(page, found)).to_be_visible()
    if typed == "obrien":
        expect(patient_link(page, "Obi, Noah")).to_have_count(0)
        assert_accessible(page, "Patient Administration, a search without punctuation")
