"""Patient Administration search through the test client."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.support.builders import make_patient
from tests.support.html_readers import names
from tests.support.staff_screens import HX


@pytest.fixture
def patients(app, practice):
    return {
        "sofia": make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14)),
        "mateo": make_patient(app, practice, "Mateo", "Núñez", date(2019, 9, 2)),
        "emma": make_patient(app, practice, "Emma", "Nunn", date(2018, 5, 17)),
        "liam": make_patient(app, practice, "Liam", "Carter", date(2015, 1, 30), imported_portal_status="registered"),
        "ava": make_patient(app, practice, "Ava", "Carter", date(2016, 7, 4), imported_portal_status="self_registered"),
        "zoe": make_patient(app, practice, "Zoë", "O'Brien", date(2012, 3, 14), imported_portal_status="pending"),
    }


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/patients?last=smith")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin")


def test_full_page_has_the_search_form_and_results(staff_client, patients):
    response = staff_client.get("/patients?last=nunez")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h2 id=\"search-heading\">Search Patients</h2>" in body
    assert 'for="last">Last name<' in body and 'type="date" id="dob"' in body
    assert names(response) == ["Núñez, Mateo", "Núñez, Sofía"]
    assert "HX-Request" in response.headers["Vary"]


def test_fragment_request_gets_only_the_results(staff_client, patients):
    response = staff_client.get("/patients?last=NU", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and "Search Patients" not in body
    assert names(response) == ["Núñez, Mateo", "Núñez, Sofía", "Nunn, Emma"]
    assert "HX-Request" in response.headers["Vary"]


def test_history_restore_gets_the_full_page(staff_client, patients):
    response = staff_client.get("/patients?last=nu", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)


@pytest.mark.parametrize("typed", ["nunez", "NÚÑEZ", "Nun", "núñ"])
def test_names_match_by_prefix_ignoring_case_and_accents(staff_client, patients, typed):
    assert "Núñez, Sofía" in names(staff_client.get(f"/patients?last={typed}", headers=HX))


@pytest.mark.parametrize(("typed", "found"), [
    ("obrien", "O'Brien, Zoë"), ("o'brien", "O'Brien, Zoë"), ("O’Brien", "O'Brien, Zoë"), ("o brien", "O'Brien, Zoë"),
    ("smith jones", "Smith-Jones, Ella"), ("smithjones", "Smith-Jones, Ella"), ("smith-j", "Smith-Jones, Ella"),
    ("jones", "Smith-Jones, Ella"), ("jon", "Smith-Jones, Ella"),
    ("lopez", "García López, Lucía"), ("garcia lopez", "García López, Lucía"), ("garcia", "García López, Lucía"),
    ("garcíal", "García López, Lucía"),
])
def test_names_match_ignoring_apostrophes_hyphens_and_spaces_and_by_each_part(app, practice, staff_client, patients, typed, found):
    """Issue 14: `obrien` finds O'Brien, `smith jones` and `jones` find Smith-Jones, `lopez` García López."""
    make_patient(app, practice, "Ella", "Smith-Jones", date(2014, 2, 3))
    make_patient(app, practice, "Lucía", "García López", date(2017, 6, 8))
    make_patient(app, practice, "Noah", "Jonas", date(2013, 1, 1))
    assert found in names(staff_client.get("/patients", query_string={"last": typed}, headers=HX))


def test_a_later_part_finds_only_surnames_that_have_it(app, practice, staff_client, patients):
    make_patient(app, practice, "Ella", "Smith-Jones", date(2014, 2, 3))
    make_patient(app, practice, "Noah", "Jones", date(2013, 1, 1))
    make_patient(app, practice, "Ivy", "Jonesboro-Smith", date(2013, 1, 1))
    assert names(staff_client.get("/patients?last=jones", headers=HX)) == ["Jones, Noah", "Jonesboro-Smith, Ivy", "Smith-Jones, Ella"]
    assert names(staff_client.get("/patients?last=smith", headers=HX)) == ["Jonesboro-Smith, Ivy", "Smith-Jones, Ella"]
    # The other criteria hold for a match by the last part too.
    make_patient(app, practice, "Noah", "Smith-Jones", date(2016, 5, 6), imported_portal_status="registered")
    assert names(staff_client.get("/patients?last=jones&first=el", headers=HX)) == ["Smith-Jones, Ella"]
    assert names(staff_client.get("/patients?last=jones&dob=2016-05-06", headers=HX)) == ["Smith-Jones, Noah"]
    assert names(staff_client.get("/patients?last=jones&status=registered", headers=HX)) == ["Smith-Jones, Noah"]


def test_first_names_ignore_hyphens_and_spaces_too(app, practice, staff_client, patients):
    make_patient(app, practice, "Mary-Kate", "Olsen", date(2014, 2, 3))
    for typed in ("marykate", "mary kate", "Mary-K"):
        assert names(staff_client.get("/patients", query_string={"first": typed, "last": "olsen"}, headers=HX)) == ["Olsen, Mary-Kate"]


def test_first_and_last_name_together(staff_client, patients):
    assert names(staff_client.get("/patients?last=nu&first=sof", headers=HX)) == ["Núñez, Sofía"]
    assert names(staff_client.get("/patients?first=zoe", headers=HX)) == ["O'Brien, Zoë"]


@pytest.mark.parametrize("dob", ["2012-03-14", "03/14/2012", "3/14/2012"])
def test_date_of_birth_matches_exactly_in_both_formats(staff_client, patients, dob):
    assert names(staff_client.get(f"/patients?dob={dob}", headers=HX)) == ["Núñez, Sofía", "O'Brien, Zoë"]


def test_invalid_date_is_a_422_with_the_message(staff_client, patients):
    response = staff_client.get("/patients?dob=14/31/2012", headers=HX)
    assert response.status_code == 422
    assert "Enter the date of birth as MM/DD/YYYY." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "status, expected",
    [
        ("registered", ["Carter, Liam"]),
        ("self_registered", ["Carter, Ava"]),
        ("pending", ["O'Brien, Zoë"]),
        ("unregistered", ["Núñez, Mateo", "Núñez, Sofía", "Nunn, Emma"]),
    ],
)
def test_search_by_status(staff_client, patients, status, expected):
    assert names(staff_client.get(f"/patients?status={status}", headers=HX)) == expected


def test_status_column_shows_the_derived_status(staff_client, patients):
    body = staff_client.get("/patients?last=carter", headers=HX).get_data(as_text=True)
    assert "<td>Registered</td>" in body and "<td>Self Registered</td>" in body


def test_no_match_says_so(staff_client, patients):
    response = staff_client.get("/patients?last=zzz", headers=HX)
    assert "No patients found" in response.get_data(as_text=True)


def test_many_matches_are_paged_with_a_refine_hint(app, staff_client, practice):
    for n in range(30):
        make_patient(app, practice, f"Kid{n:02d}", "Smith", date(2015, 1, 1))
    first = staff_client.get("/patients?last=smith", headers=HX).get_data(as_text=True)
    assert first.count("Select</a>") == 25
    assert "refine your search" in first and "Next page" in first
    second = staff_client.get("/patients?last=smith&page=2", headers=HX).get_data(as_text=True)
    assert second.count("Select</a>") == 5 and "Previous page" in second and "Next page" not in second


def test_other_practices_patients_are_never_found(app, staff_client, patients, other_practice):
    make_patient(app, other_practice, "Sofía", "Núñez", date(2012, 3, 14))
    assert names(staff_client.get("/patients?last=nunez", headers=HX)) == ["Núñez, Mateo", "Núñez, Sofía"]


def test_account_page_of_another_practice_is_404(app, staff_client, other_practice):
    stranger = make_patient(app, other_practice, "Noah", "Stone")
    assert staff_client.get(f"/patients/{stranger.id}").status_code == 404
    assert staff_client.get(f"/patients/{stranger.id}/registration").status_code == 404
    assert staff_client.get(f"/patients/{stranger.id}/basic-info").status_code == 404
    response = staff_client.post(
        f"/patients/{stranger.id}/registration", data={}, headers={"X-CSRFToken": staff_client.csrf_token}
    )
    assert response.status_code == 404


def test_user_search_finds_portal_users_by_email_prefix(app, staff_client, patients):
    from blueprints.extensions import db
    from models import PortalLink, PortalUser

    with app.app_context():
        user = PortalUser(practice_id=patients["liam"].practice_id, email="carter.family@example.com")
        db.session.add(user)
        db.session.flush()
        db.session.add(PortalLink(portal_user_id=user.id, patient_id=patients["liam"].id, access_level="limited"))
        db.session.commit()
    response = staff_client.get("/patients?mode=user&email=CARTER", headers=HX)
    body = response.get_data(as_text=True)
    assert "carter.family@example.com" in body
    assert f'href="/patients/{patients["liam"].id}">Carter, Liam<' in body
    assert "Limited: No Chart Access" in body
    page = staff_client.get("/patients?mode=user").get_data(as_text=True)
    assert "<th scope=\"col\">Email</th>" not in page  # nothing searched yet
    assert 'aria-pressed="true">User<' in page


def _statements_of(app, request):
    from sqlalchemy import event

    from blueprints.extensions import db

    seen: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda conn, cursor, statement, *rest: seen.append(" ".join(statement.split()))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = request()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    return [s for s in seen if s.split()[0] in ("SELECT", "INSERT", "UPDATE", "DELETE")]


def test_a_results_fragment_costs_four_statements(app, staff_client, patients):
    """Each is a round trip on PostgreSQL (benchmarks/RESULTS.md, 'fixed cost'): the session, the
    membership with its staff member and practice, the audit row, the search. The header's
    practice count is for full pages only."""
    statements = _statements_of(app, lambda: staff_client.get("/patients?last=nu", headers=HX))
    kinds = [re.match(r"(SELECT|INSERT INTO) .*?\b(?:FROM )?(\w+)[ (]", s).group(2) if s.startswith("INSERT")
             else re.search(r" FROM (\w+)", s).group(1) for s in statements]
    assert kinds == ["staff_sessions", "staff_memberships", "audit_events", "patients"], statements
    assert "JOIN staff_users" in statements[1] and "JOIN practices" in statements[1]
    full_page = _statements_of(app, lambda: staff_client.get("/patients?last=nu"))
    assert any("count(*)" in s for s in full_page)  # the practice count, for `Switch practice`
    assert not any("count(*)" in s for s in statements)
