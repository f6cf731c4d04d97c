"""The audit trail (HIPAA 164.312(b)): the whole workflow leaves exact rows, none of
them carries a PIN, a name, a date of birth, an email address or a revoke reason; PostgreSQL
refuses to change or delete a row; staff see a patient's history; admins export CSV."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from blueprints.extensions import db
from models import AuditEvent
from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.launch import LAUNCH_SECRET, claims, launch_token
from tests.support.portal import issue_pin, register
from tests.support.staff_screens import HX, issue, sign_in

PHI = ("Sofía", "Sofia", "Núñez", "Nunez", "2012-03-14", "03/14/2012", "maria.nunez@example.com", "Valentina")


@pytest.fixture
def app_config():
    return {"LAUNCH_SECRET": LAUNCH_SECRET}


def events(app) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return rows


def test_the_whole_workflow_leaves_exact_rows_and_no_phi(app, practice, mailbox):
    make_staff(app, practice)
    teen = make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14), guardian_email="maria.nunez@example.com")
    staff = app.test_client()
    sign_in(staff)
    staff.csrf_token = csrf_token_from(staff.get("/patients").get_data(as_text=True))
    staff.get("/patients?last=N%C3%BA%C3%B1ez&dob=2012-03-14", headers=HX)
    staff.get(f"/patients/{teen.id}")
    first_pin = issue_pin(staff, teen.id, mailbox, email="maria.nunez@example.com")
    staff.post(
        f"/patients/{teen.id}/credentials/1/revoke",
        data={"revoke-guardian-reason": "Mother Valentina called: wrong address"},
        headers={**HX, "X-CSRFToken": staff.csrf_token},
    )
    second_pin = issue_pin(staff, teen.id, send_by="none", action="print")
    staff.post(
        f"/patients/{teen.id}/basic-info",
        data={"first_name": "Sofía", "last_name": "Núñez", "csrf_token": staff.csrf_token},
    )
    parent = app.test_client()
    assert register(parent, first_pin, "2012-03-14").status_code == 422  # revoked: a failed redeem
    assert register(parent, second_pin, "2012-03-14").status_code == 303
    staff.post("/signout", data={"csrf_token": staff.csrf_token})
    app.test_client().get("/launch?token=" + launch_token(claims()))
    app.test_client().post("/signin", data={"username": "alex", "password": "wrong"})  # CSRF-refused: no row
    failed = app.test_client()
    token = csrf_token_from(failed.get("/signin").get_data(as_text=True))
    failed.post("/signin", data={"username": "alex", "password": "wrong password", "csrf_token": token})
    # A patient's name typed into Username by mistake is not recorded: only real logins are.
    failed.post("/signin", data={"username": "Núñez Sofía", "password": "wrong password", "csrf_token": token})

    rows = events(app)
    got = [(e.action, e.outcome, e.staff_username, e.patient_id, e.detail) for e in rows]
    assert got == [
        ("sign-in", "success", "alex", None, "password"),
        ("search", "success", "alex", None, "filters: last, dob, status=all"),
        ("view account", "success", "alex", teen.id, None),
        ("issue", "success", "alex", teen.id, "PIN 1 for the guardian, send by email"),
        ("send", "success", "alex", teen.id, "email 1 sent (on issue)"),
        ("revoke", "success", "alex", teen.id, "PIN 1"),
        ("issue", "success", "alex", teen.id, "PIN 2 for the guardian, send by none"),  # PIN 1 was revoked already
        ("print", "success", "alex", teen.id, "PIN 2 letter"),
        ("basic-info change", "success", "alex", teen.id, "first and last name"),
        ("failed redeem", "failure", None, None, "by pin: no match"),  # a revoked PIN matches no active one
        ("redeem", "success", None, teen.id, "by pin"),
        ("sign-in", "success", None, None, "portal, registered by pin"),  # the parent's portal session
        ("sign-out", "success", "alex", None, None),
        ("launch", "success", "alex", None, None),
        ("sign-in", "failure", "alex", None, "password"),
        ("sign-in", "failure", None, None, "password"),
    ]
    for event in rows:
        assert event.occurred_at is not None and event.client_ip == "127.0.0.1"
        # Tied to no practice: the PIN that matched no active one, and the username that is no login.
        unknown_login = event.action == "sign-in" and event.outcome == "failure" and event.staff_username is None
        assert event.practice_id == (None if event.action == "failed redeem" or unknown_login else practice.id)
    flattened = " ".join(str(value) for e in rows for value in vars(e).values())
    for secret in (*PHI, first_pin, second_pin, first_pin.replace("-", ""), "wrong address", "wrong password"):
        assert secret not in flattened, f"{secret!r} is in the audit trail"


def test_the_account_page_shows_the_patients_history_only(app, staff_client, practice, mailbox):
    emma = make_patient(app, practice, "Emma", "Carter")
    noah = make_patient(app, practice, "Noah", "Baker")
    issue(staff_client, emma.id)
    issue(staff_client, noah.id, email="noah.parent@example.com")
    page = staff_client.get(f"/patients/{emma.id}").get_data(as_text=True)
    history = html.unescape(page[page.index('id="history-heading"'):])
    assert "<td>Issued a PIN, to be emailed to d•••@example.com</td>" in history
    assert "<td>Emailed a PIN to d•••@example.com</td>" in history and "<td>Viewed the account</td>" in history
    assert "noah.parent" not in history and "n•••@example.com" not in history  # Noah's PIN is his


def test_postgresql_refuses_to_change_or_delete_an_audit_row(app, staff_client):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the append-only trigger is PostgreSQL's; on SQLite the app only inserts")
        [row_id] = db.session.scalars(select(AuditEvent.id)).all()  # the sign-in
        for statement in (
            f"UPDATE audit_events SET outcome = 'failure' WHERE id = {row_id}",
            f"DELETE FROM audit_events WHERE id = {row_id}",
        ):
            with pytest.raises(DBAPIError, match="audit_events is append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert db.session.scalar(select(AuditEvent.outcome).where(AuditEvent.id == row_id)) == "success"


class TestExport:
    @pytest.fixture
    def admin(self, app, practice):
        make_staff(app, practice, "morgan", admin=True)
        client = app.test_client()
        sign_in(client, "morgan")
        return client

    def test_staff_who_are_not_admins_get_403(self, staff_client):
        assert staff_client.get("/practice/audit").status_code == 403
        assert staff_client.get("/practice/audit.csv?from=2020-01-01&to=2030-01-01").status_code == 403

    def test_an_admin_exports_a_range_as_csv(self, app, admin, practice, other_practice):
        make_staff(app, other_practice, "riley")
        sign_in(app.test_client(), "riley")  # another practice's row: never in this export
        with app.app_context():
            db.session.add(AuditEvent(action="search", outcome="success", practice_id=practice.id,
                                      staff_username="=HYPERLINK(\"http://evil\")", detail="+cmd"))
            db.session.commit()
        today = date.today()
        response = admin.get(f"/practice/audit.csv?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        assert list(rows[0]) == ["occurred_at_utc", "staff", "patient_id", "action", "outcome", "detail", "client_ip", "staff_id"]
        assert [(r["staff"], r["action"]) for r in rows] == [
            ("morgan", "sign-in"), ("'=HYPERLINK(\"http://evil\")", "search"), ("morgan", "export"),
        ]  # the export is recorded before it is read, so it lists itself
        assert rows[1]["detail"] == "'+cmd"  # no formula runs in a spreadsheet
        assert rows[0]["occurred_at_utc"].endswith("Z")
        exported = [e for e in events(app) if e.action == "export"]
        assert len(exported) == 1 and exported[0].staff_username == "morgan"

    def test_a_range_before_anything_happened_is_just_the_header(self, admin):
        body = admin.get("/practice/audit.csv?from=2001-01-01&to=2001-01-31").get_data(as_text=True)
        assert body == '"occurred_at_utc","staff","patient_id","action","outcome","detail","client_ip","staff_id"\r\n'

    @pytest.mark.parametrize("planted", [";=1+1", ",=1+1", " =1+1", "\t=1+1", "\r=1+1", "  @SUM(A1)", " -2+3", "\uff1d1+1"])
    def test_every_cell_is_quoted_and_nothing_a_spreadsheet_could_run_is_left_bare(self, app, admin, practice, planted):
        """With `;` as the list separator, `;=1+1` unquoted is an empty cell and then a formula."""
        staff_id = make_staff(app, practice, "quinn")
        with app.app_context():
            db.session.add(AuditEvent(action="search", outcome="success", practice_id=practice.id, staff_id=staff_id,
                                      staff_username=planted, detail="kinds: last;first", client_ip="127.0.0.1"))
            db.session.commit()
        today = date.today()
        body = admin.get(f"/practice/audit.csv?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}").get_data(as_text=True)
        lines = body.split("\r\n")
        [line] = [line for line in lines if '"search"' in line]
        assert line.endswith(f'"\'{planted}","","search","success","kinds: last;first","127.0.0.1","{staff_id}"')
        assert line.startswith('"') and line.count('"') == 2 * 8  # eight cells, each quoted, none split
        [row] = [r for r in csv.DictReader(io.StringIO(body)) if r["action"] == "search"]
        assert row["staff"] == "'" + planted and row["staff_id"] == str(staff_id)

    @pytest.mark.parametrize("query", [
        "from=2026-02-01&to=2026-01-01", "from=yesterday&to=2026-01-01", "", "from=0001-01-01&to=9999-12-31",
    ])
    def test_a_bad_range_is_422_with_the_message(self, admin, query):
        response = admin.get("/practice/audit.csv?" + query)
        assert response.status_code == 422 and "From on or before To" in response.get_data(as_text=True)


def test_the_account_history_reads_each_step_of_a_pins_life_in_plain_words(app, practice, mailbox):
    """Issue by email, revoke, print a new one, save Basic Info, a parent's failed and right
    redemption: each line of the account page's History is a sentence, newest first."""
    make_staff(app, practice)
    teen = make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14), guardian_email="maria.nunez@example.com")
    staff = app.test_client()
    sign_in(staff)
    staff.csrf_token = csrf_token_from(staff.get("/patients").get_data(as_text=True))
    first_pin = issue_pin(staff, teen.id, mailbox, email="maria.nunez@example.com")
    staff.post(f"/patients/{teen.id}/credentials/1/revoke", data={"revoke-guardian-reason": "Wrong address"},
               headers={**HX, "X-CSRFToken": staff.csrf_token})
    second_pin = issue_pin(staff, teen.id, send_by="none", action="print")
    staff.post(f"/patients/{teen.id}/basic-info",
               data={"first_name": "Sofía", "last_name": "Núñez", "csrf_token": staff.csrf_token})
    parent = app.test_client()
    assert register(parent, first_pin, "2012-03-14").status_code == 422
    assert register(parent, second_pin, "2012-03-14").status_code == 303
    staff.get(f"/patients/{teen.id}")
    staff.get(f"/patients/{teen.id}")

    page = html.unescape(staff.get(f"/patients/{teen.id}/history", headers=HX).get_data(as_text=True))
    lines = [" ".join(cell.split()) for cell in re.findall(r"<tr[^>]*><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td>", page)]
    assert lines == [
        "Viewed the account 2 times",
        "Registered for the portal with the PIN",
        "Updated Basic Info (first and last name)",
        "Printed a letter with the PIN",
        "Issued a PIN, not sent (Do not send PIN)",
        "Revoked the PIN: Wrong address",
        "Emailed a PIN to m•••@example.com",
        "Issued a PIN, to be emailed to m•••@example.com",
    ]
    # The History fragment itself is no new look at the account: not audited.
    assert [e.action for e in events(app)].count("view account") == 2


def test_the_history_alone_is_no_way_round_the_audited_account_page(app, staff_client, practice, mailbox):
    """Only htmx gets the History fragment; a whole page is the account page, which audits the
    look. And a whole page built after a refused action (no JavaScript) lists the History."""
    emma = make_patient(app, practice, "Emma", "Carter")
    issue(staff_client, emma.id)
    before = [e.action for e in events(app)].count("view account")
    answer = staff_client.get(f"/patients/{emma.id}/history")
    assert answer.status_code == 200 and "Account Settings" in answer.get_data(as_text=True)
    assert [e.action for e in events(app)].count("view account") == before + 1
    fragment = staff_client.get(f"/patients/{emma.id}/history", headers=HX)
    assert fragment.status_code == 200 and "Account Settings" not in fragment.get_data(as_text=True)
    assert [e.action for e in events(app)].count("view account") == before + 1
    refused = staff_client.post(f"/patients/{emma.id}/credentials/1/revoke",
                                data={"revoke-guardian-reason": "", "csrf_token": staff_client.csrf_token})
    page = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422 and "Emailed a PIN to d•••@example.com" in page
    assert "Nothing recorded for this patient yet." not in page
