"""The wall between practices on the searches, which take no id and so fall outside the url_map walk
of test_practice_walls.py: the patient search (`/patients?last=…`) and the portal-user search
(`/patients?mode=user&email=…`).

Practices A (Cedar) and B (Birch) each have an `Emma Carter` whose parent registered with the same
email, `dana.carter@example.com` (a portal user belongs to one practice, so both exist). B's Emma is
born on another day and her parent's link is `Limited: No Chart Access`, A's `Full Access`: on A's
screens, B's rows would show as a second row, a second account link, B's date of birth or the
word `Limited`. A's staff (A only, or a member of both working in A) never sees them, whatever
they search for, on the full page and in the htmx fragment."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest

from tests.support.builders import make_patient, make_practice, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.portal import issue_pin, register
from tests.support.staff_screens import HX, sign_in

EMAIL = "dana.carter@example.com"
A_BIRTH, B_BIRTH = date(2018, 5, 17), date(2016, 1, 2)
PATIENT_SEARCHES = [
    "last=carter",
    "last=Carter&first=Emma",
    "first=emma",
    "dob=01/02/2016",  # B's Emma's date of birth: nobody in A
    "dob=2016-01-02",
    "status=registered",
    "status=all",
    "last=c&status=registered",
]
USER_SEARCHES = ["email=dana", "email=DANA.CARTER@EXAMPLE.COM", "email=d", "email="]


def staff_of(app, username: str, practice_id: int | None = None):
    """A client signed in as `username`; with `practice_id`, that practice chosen after sign-in."""
    client = app.test_client()
    assert sign_in(client, username=username).status_code == 302
    if practice_id is not None:
        token = csrf_token_from(client.get("/practice/choose").get_data(as_text=True))
        assert client.post("/practice/choose", data={"practice_id": practice_id, "csrf_token": token}).status_code == 302
    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    return client


def register_parent(app, staff, patient, **fields) -> None:
    """The practice's staff issue Emma's PIN by email; her parent registers with it."""
    pin = issue_pin(staff, patient.id, email=EMAIL, **fields)
    assert register(app.test_client(), pin, patient.date_of_birth.isoformat(), email=EMAIL).status_code == 303


def account_links(body: str) -> list[str]:
    return re.findall(r'href="/patients/(\d+)"', body)


@pytest.mark.parametrize("actor", ["staff of A only", "staff of A and B, working in A"])
def test_searches_show_only_the_chosen_practices_patients_and_portal_users(app, mailbox, actor):
    a, b = make_practice(app), make_practice(app, "Birch Family Medicine")
    make_staff(app, b, username="blair")
    b_emma = make_patient(app, b, "Emma", "Carter", B_BIRTH, guardian_email=EMAIL)
    register_parent(app, staff_of(app, "blair"), b_emma, access="limited")

    if actor == "staff of A only":
        make_staff(app, a, username="alex")
        staff = staff_of(app, "alex")
    else:
        make_staff(app, a, username="morgan")
        make_staff(app, b, username="morgan")
        staff = staff_of(app, "morgan", practice_id=a.id)
    a_emma = make_patient(app, a, "Emma", "Carter", A_BIRTH, guardian_email=EMAIL)
    register_parent(app, staff, a_emma)

    # Practice B's own staff see B's Emma and B's parent: the rows exist and the searches find them.
    b_staff = staff_of(app, "blair")
    b_patients = b_staff.get("/patients?last=carter").get_data(as_text=True)
    assert account_links(b_patients) == [str(b_emma.id)] * 2  # name link and Select
    b_users = html.unescape(b_staff.get("/patients?mode=user&email=dana").get_data(as_text=True))
    assert EMAIL in b_users and "Limited: No Chart Access" in b_users

    leaks = []
    for query in PATIENT_SEARCHES:
        for headers in ({}, HX):
            response = staff.get(f"/patients?{query}", headers=headers)
            body = html.unescape(response.get_data(as_text=True))
            where = f"/patients?{query} ({'htmx' if headers else 'full page'})"
            assert response.status_code == 200, where
            if str(b_emma.id) in account_links(body) or "01/02/2016" in body:
                leaks.append(f"{where}: practice B's Emma Carter is listed")
            if query.startswith("dob") and "No patients found" not in body:
                leaks.append(f"{where}: B's date of birth found a patient in A")
            elif not query.startswith("dob") and account_links(body) != [str(a_emma.id)] * 2:
                leaks.append(f"{where}: expected A's Emma alone, got accounts {account_links(body)}")
    for query in USER_SEARCHES:
        for headers in ({}, HX):
            response = staff.get(f"/patients?mode=user&{query}", headers=headers)
            body = html.unescape(response.get_data(as_text=True))
            where = f"/patients?mode=user&{query} ({'htmx' if headers else 'full page'})"
            assert response.status_code == 200, where
            rows = body.count(f"<td>{EMAIL}</td>")
            if rows != 1 or str(b_emma.id) in account_links(body) or "Limited: No Chart Access" in body:
                leaks.append(f"{where}: {rows} portal user rows, accounts {account_links(body)}; "
                             f"B's parent (Limited) shown: {'Limited: No Chart Access' in body}")
            elif account_links(body) != [str(a_emma.id)] or "Full Access" not in body:
                leaks.append(f"{where}: A's own parent missing: accounts {account_links(body)}")
    assert not leaks, "practice A's staff saw practice B's rows:\n" + "\n".join(leaks)
