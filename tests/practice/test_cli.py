"""The command line an IT person runs (README: The outside contract): what it prints, its exit codes and
the rows it leaves, on SQLite and PostgreSQL. `patients import` is in tests/patients/test_import.py."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta

import pytest
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import func, select, text

from blueprints.extensions import db
from models import Carrier, Patient, PortalLink, PortalUser, Practice, StaffMembership, StaffUser
from services.delivery.contact import normalize_email_address, normalize_us_cell
from services.patients.demo_data import DEMO_PASSWORD, DEMO_PRACTICE, DEMO_USERNAME
from tests.support.builders import STAFF_PASSWORD, make_patient, make_staff, snapshot
from tests.support.staff_screens import sign_in

PASSWORD = "a-long-enough-password"


def invoke(runner, *args, **kwargs):
    return runner.invoke(args=list(args), **kwargs)


def practices(app) -> dict[str, object]:
    with app.app_context():
        return {p.name: snapshot(p) for p in db.session.scalars(select(Practice))}


def memberships(app, username: str) -> dict[str, bool]:
    """Practice name -> is_admin, for one staff login."""
    with app.app_context():
        rows = db.session.execute(
            select(Practice.name, StaffMembership.is_admin)
            .join(StaffMembership, StaffMembership.practice_id == Practice.id)
            .join(StaffUser, StaffUser.id == StaffMembership.staff_id)
            .where(StaffUser.username == username)
        )
        return dict(rows.all())


def staff_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(StaffUser))


def carriers(app) -> dict[str, object]:
    with app.app_context():
        return {c.name: snapshot(c) for c in db.session.scalars(select(Carrier))}


def signs_in(app, username: str, password: str, practice_name: str | None = None) -> bool:
    """Through the web form, as a person would; optionally checks the practice shown."""
    client = app.test_client()
    response = sign_in(client, username, password)
    if response.status_code != 302:
        return False
    page = client.get("/patients").get_data(as_text=True)
    return practice_name is None or f"{practice_name} · {username}" in page


# --- practice create --------------------------------------------------------------------------


def test_practice_create_with_portal_url_and_timezone(app, runner):
    result = invoke(
        runner, "practice", "create", "Cedar Pediatrics",
        "--portal-url", "https://portal.cedar.example/portal/register", "--timezone", "America/Chicago",
    )
    assert result.exit_code == 0, result.output
    assert "Created practice 'Cedar Pediatrics' (time zone America/Chicago; its links name it ?practice=cedar-pediatrics)." in result.stdout
    cedar = practices(app)["Cedar Pediatrics"]
    assert cedar.portal_url == "https://portal.cedar.example/portal/register"
    assert cedar.timezone == "America/Chicago"


def test_practice_create_defaults(app, runner):
    result = invoke(runner, "practice", "create", "  Birch Family Medicine ")
    assert result.exit_code == 0, result.output
    birch = practices(app)["Birch Family Medicine"]
    assert birch.portal_url is None  # welcome messages then link to PORTAL_URL
    assert birch.timezone == "America/New_York"


def test_practice_create_refuses_an_unknown_timezone(app, runner):
    result = invoke(runner, "practice", "create", "Cedar Pediatrics", "--timezone", "Central Time")
    assert result.exit_code != 0
    assert "Unknown time zone 'Central Time'" in result.stderr and "America/New_York" in result.stderr
    assert practices(app) == {}


def test_practice_create_refuses_a_duplicate_name(app, runner):
    assert invoke(runner, "practice", "create", "Cedar Pediatrics").exit_code == 0
    result = invoke(runner, "practice", "create", "Cedar Pediatrics", "--timezone", "America/Denver")
    assert result.exit_code != 0
    assert "A practice named 'Cedar Pediatrics' exists already." in result.stderr
    assert list(practices(app)) == ["Cedar Pediatrics"]
    assert practices(app)["Cedar Pediatrics"].timezone == "America/New_York"


def test_practice_create_refuses_a_blank_name(app, runner):
    result = invoke(runner, "practice", "create", "   ")
    assert result.exit_code != 0 and "needs a name" in result.stderr
    assert practices(app) == {}


# --- staff create -----------------------------------------------------------------------------


def test_staff_create_with_password_and_admin_then_sign_in(app, runner, practice):
    result = invoke(runner, "staff", "create", "jlee", "--practice", "Cedar Pediatrics", "--admin", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert "Staff 'jlee' can sign in to 'Cedar Pediatrics' as practice admin." in result.stdout
    assert PASSWORD not in result.output
    assert memberships(app, "jlee") == {"Cedar Pediatrics": True}
    with app.app_context():
        stored = db.session.scalar(select(StaffUser.password_hash).where(StaffUser.username == "jlee"))
    assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    assert signs_in(app, "jlee", PASSWORD, "Cedar Pediatrics")
    assert not signs_in(app, "jlee", PASSWORD + "x")


def test_staff_create_prompts_for_the_password_twice(app, runner, practice):
    result = invoke(runner, "staff", "create", "mtorres", "--practice", "Cedar Pediatrics", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output and "Repeat for confirmation:" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert "as staff." in result.stdout
    assert memberships(app, "mtorres") == {"Cedar Pediatrics": False}
    assert signs_in(app, "mtorres", PASSWORD, "Cedar Pediatrics")


def test_staff_create_prompt_refuses_a_mismatched_confirmation(app, runner, practice):
    result = invoke(
        runner, "staff", "create", "mtorres", "--practice", "Cedar Pediatrics",
        input=f"{PASSWORD}\n{PASSWORD}-typo\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert signs_in(app, "mtorres", PASSWORD)


@pytest.mark.parametrize("how", ["option", "prompt"])
def test_staff_create_refuses_a_short_password(app, runner, practice, how):
    extra = {"input": "short\nshort\n"} if how == "prompt" else {}
    args = ["staff", "create", "jlee", "--practice", "Cedar Pediatrics"] + (["--password", "short"] if how == "option" else [])
    result = invoke(runner, *args, **extra)
    assert result.exit_code != 0
    assert "Use at least 12 characters." in result.stderr
    assert staff_count(app) == 0


def test_staff_create_for_an_unknown_practice_fails_clearly(app, runner, practice):
    result = invoke(runner, "staff", "create", "jlee", "--practice", "Cedar", "--password", PASSWORD)
    assert result.exit_code != 0
    assert "No practice named 'Cedar'" in result.stderr and "practice create" in result.stderr
    assert staff_count(app) == 0


def test_staff_create_adds_an_existing_login_to_a_second_practice(app, runner, practice, other_practice):
    make_staff(app, practice, "alex", admin=True)
    # No --password: the login keeps its password, and nobody is asked to type it.
    result = invoke(runner, "staff", "create", "alex", "--practice", "Birch Family Medicine")
    assert result.exit_code == 0, result.output
    assert "Password:" not in result.output
    assert "Staff 'alex' can sign in to 'Birch Family Medicine' as staff." in result.stdout
    assert memberships(app, "alex") == {"Cedar Pediatrics": True, "Birch Family Medicine": False}
    assert staff_count(app) == 1
    assert signs_in(app, "alex", STAFF_PASSWORD)


def test_staff_create_with_a_password_resets_an_existing_login(app, runner, practice):
    make_staff(app, practice, "alex")
    result = invoke(runner, "staff", "create", "alex", "--practice", "Cedar Pediatrics", "--admin", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert memberships(app, "alex") == {"Cedar Pediatrics": True}
    assert signs_in(app, "alex", PASSWORD) and not signs_in(app, "alex", STAFF_PASSWORD)


# --- carriers ---------------------------------------------------------------------------------


def carrier_lines(result) -> dict[str, list[str]]:
    return {line.split("\t")[0]: line.split("\t")[1:] for line in result.stdout.splitlines() if line}


def expected_state(ended_on: date | None) -> str:
    if ended_on is None:
        return "active"
    return f"service ended {ended_on}" if ended_on <= date.today() else f"ends {ended_on}"


def test_carriers_list_shows_gateways_and_which_have_ended(app, runner):
    result = invoke(runner, "carriers", "list")
    assert result.exit_code == 0, result.output
    listed = carrier_lines(result)
    assert list(listed) == sorted(listed)
    assert {"Verizon", "AT&T", "T-Mobile", "Sprint", "US Cellular", "Boost", "Google Fi", "Cricket", "Metro"} <= set(listed)
    assert listed["AT&T"] == ["txt.att.net", "service ended 2025-06-17"]
    assert listed["T-Mobile"] == ["tmomail.net", "service ended 2024-12-31"]
    assert listed["US Cellular"] == ["email.uscc.net", "active"]
    assert listed["Verizon"] == ["vtext.com", expected_state(date(2027, 3, 31))]


def test_carriers_set_adds_a_new_carrier(app, runner):
    result = invoke(runner, "carriers", "set", "Visible", "--gateway", "VZWPIX.com")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Visible: vzwpix.com"
    visible = carriers(app)["Visible"]
    assert (visible.gateway, visible.ended_on) == ("vzwpix.com", None)
    assert carrier_lines(invoke(runner, "carriers", "list"))["Visible"] == ["vzwpix.com", "active"]


def test_carriers_set_updates_a_carrier_found_by_name_ignoring_case(app, runner):
    before = carriers(app)
    result = invoke(runner, "carriers", "set", "us cellular", "--gateway", "email.uscc.net", "--ended", "2020-01-31")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "US Cellular: email.uscc.net, ended 2020-01-31"
    after = carriers(app)
    assert set(after) == set(before)  # updated, not duplicated as "us cellular"
    assert after["US Cellular"].id == before["US Cellular"].id
    assert after["US Cellular"].ended_on == date(2020, 1, 31)
    assert carrier_lines(invoke(runner, "carriers", "list"))["US Cellular"] == ["email.uscc.net", "service ended 2020-01-31"]

    # Omitting --ended says the gateway works again.
    assert invoke(runner, "carriers", "set", "US Cellular", "--gateway", "email.uscc.net").exit_code == 0
    assert carriers(app)["US Cellular"].ended_on is None


def test_an_ended_carrier_is_offered_as_service_ended_in_the_registration_window(app, runner, staff_client, practice):
    future = (date.today() + timedelta(days=400)).isoformat()
    assert invoke(runner, "carriers", "set", "Boost", "--gateway", "sms.myboostmobile.com", "--ended", "2021-05-01").exit_code == 0
    assert invoke(runner, "carriers", "set", "Metro", "--gateway", "mymetropcs.com", "--ended", future).exit_code == 0
    patient = make_patient(app, practice, "Ava", "Okafor")
    body = staff_client.get(f"/patients/{patient.id}/registration", headers={"HX-Request": "true"}).get_data(as_text=True)
    ids = {name: c.id for name, c in carriers(app).items()}
    assert re.search(rf'<option disabled value="{ids["Boost"]}">Boost \(service ended\)</option>', body)
    assert re.search(rf'<option value="{ids["Metro"]}">Metro</option>', body)


@pytest.mark.parametrize("ended", ["2026-13-01", "12/31/2026", "soon"])
def test_carriers_set_refuses_a_bad_date(app, runner, ended):
    before = carriers(app)
    result = invoke(runner, "carriers", "set", "Verizon", "--gateway", "vtext.com", "--ended", ended)
    assert result.exit_code != 0
    assert "--ended takes a date as YYYY-MM-DD" in result.stderr
    assert carriers(app) == before


@pytest.mark.parametrize("gateway", ["vtext", "sms@vtext.com", "v text.com", " "])
def test_carriers_set_refuses_a_gateway_that_is_not_a_domain(app, runner, gateway):
    result = invoke(runner, "carriers", "set", "Visible", "--gateway", gateway)
    assert result.exit_code != 0 and "--gateway takes a domain" in result.stderr
    assert "Visible" not in carriers(app)


# --- seed-demo --------------------------------------------------------------------------------


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def test_seed_demo_creates_varied_patients_once_and_prints_the_login(app, runner):
    result = invoke(runner, "seed-demo")
    assert result.exit_code == 0, result.output
    assert f"Seeded practice '{DEMO_PRACTICE}'." in result.stdout
    assert f"Demo staff login: username {DEMO_USERNAME} / password {DEMO_PASSWORD}" in result.stdout
    assert (DEMO_USERNAME, DEMO_PASSWORD) == ("frontdesk", "maple-grove-demo")  # as README.md says
    assert "(a practice admin: Patient Administration, Practice Settings and the Outbox)" in result.stdout

    today = date.today()
    with app.app_context():
        practice_id = db.session.scalar(select(Practice.id).where(Practice.name == DEMO_PRACTICE))
        patients = [snapshot(p) for p in db.session.scalars(select(Patient).where(Patient.practice_id == practice_id))]
        linked = db.session.scalar(select(func.count()).select_from(PortalLink))
        users = db.session.scalar(select(func.count()).select_from(PortalUser))
    assert 200 <= len(patients) <= 1000  # a few hundred

    baby = [p for p in patients if p.first_name == "Baby Boy"]
    assert len(baby) == 1 and baby[0].name_is_unofficial is True and baby[0].last_name == "Núñez"
    sofia = [p for p in patients if (p.first_name, p.last_name) == ("Sofía", "Núñez")]
    assert len(sofia) == 1 and _age(sofia[0].date_of_birth, today) >= 12
    assert sum(_age(p.date_of_birth, today) >= 12 for p in patients) >= 20
    assert sum(_age(p.date_of_birth, today) < 12 for p in patients) >= 20

    families: dict[tuple[str, str], int] = {}
    for p in patients:
        if p.guardian_email:
            families[(p.last_name, p.guardian_email)] = families.get((p.last_name, p.guardian_email), 0) + 1
    assert sum(size >= 2 for size in families.values()) >= 10  # siblings sharing surname and email

    assert {p.imported_portal_status for p in patients} == {"unregistered", "pending", "registered", "self_registered"}
    assert linked >= 1 and users >= 1
    assert len({p.chart_number for p in patients}) == len(patients)
    # Everything seeded passes the same checks an import applies.
    for p in patients:
        assert p.first_name_norm and p.last_name_norm and p.date_of_birth <= today
        if p.guardian_email:
            assert normalize_email_address(p.guardian_email) == p.guardian_email
        if p.guardian_cell:
            assert normalize_us_cell(p.guardian_cell) == p.guardian_cell

    assert signs_in(app, DEMO_USERNAME, DEMO_PASSWORD, DEMO_PRACTICE)

    again = invoke(runner, "seed-demo")
    assert again.exit_code == 0, again.output
    assert "Demo data already present" in again.stdout
    assert f"Demo staff login: username {DEMO_USERNAME} / password {DEMO_PASSWORD}" in again.stdout
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Patient)) == len(patients)
        assert db.session.scalar(select(func.count()).select_from(Practice)) == 1
        assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 1
        assert db.session.scalar(select(func.count()).select_from(PortalLink)) == linked


# --- db upgrade -------------------------------------------------------------------------------


@pytest.fixture
def keep_logging():
    """Alembic's env.py applies alembic.ini's logging config; put the test process's back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    others = {name: (lg.level, lg.handlers[:], lg.propagate, lg.disabled)
              for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (lvl, hdlrs, propagate, disabled) in others.items():
        lg = logging.getLogger(name)
        lg.setLevel(lvl)
        lg.handlers[:] = hdlrs
        lg.propagate, lg.disabled = propagate, disabled


def test_db_upgrade_on_a_migrated_database_is_a_no_op(app, runner, practice, keep_logging):
    patient = make_patient(app, practice, "Sofía", "Núñez")
    with app.app_context():
        head = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config()).get_current_head()
    for _ in range(2):
        result = invoke(runner, "db", "upgrade")
        assert result.exit_code == 0, result.output
        # Alembic's log reaches the terminal: it says where it is, and runs no migration.
        assert "Context impl" in result.output and "Running upgrade" not in result.output
    with app.app_context():
        assert db.session.scalars(text("SELECT version_num FROM alembic_version")).all() == [head]
    assert list(practices(app)) == ["Cedar Pediatrics"]
    with app.app_context():
        assert vars(snapshot(db.session.get(Patient, patient.id))) == vars(patient)
