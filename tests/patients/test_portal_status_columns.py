"""The portal status reads two columns the database keeps on the patient row (portal_linked,
pin_active_until; migration c7a4e1f2b9d0). Each way a link or a PIN changes must move them,
whoever writes: the staff screen, the portal, a bulk UPDATE, or plain SQL. (tests/conftest.py
also checks every test's patients against the links and PINs when the test ends.)"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from app import create_app
from blueprints.extensions import db
from models import Patient, RegistrationCredential, utcnow
from services.patients.portal_status import portal_status_of
from tests.support.app_settings import config_for
from tests.support.builders import make_patient
from tests.support.html_readers import names
from tests.support.portal import issue_pin, register
from tests.support.rows import portal_status_inputs_disagreeing
from tests.support.staff_screens import HX, revoke

DOB = date(2018, 5, 17)


@pytest.fixture
def patient(app, practice):
    return make_patient(app, practice, "Emma", "Carter", DOB)


def inputs(app, patient_id: int) -> tuple[bool, object]:
    with app.app_context():
        row = db.session.execute(
            select(Patient.portal_linked, Patient.pin_active_until).where(Patient.id == patient_id)
        ).one()
        db.session.remove()
        return row.portal_linked, row.pin_active_until


def live_credentials(app, patient_id: int) -> list[RegistrationCredential]:
    with app.app_context():
        rows = db.session.scalars(
            select(RegistrationCredential).where(
                RegistrationCredential.patient_id == patient_id,
                RegistrationCredential.used_at.is_(None),
                RegistrationCredential.revoked_at.is_(None),
            )
        ).all()
        db.session.remove()
        return list(rows)


def status(app, patient_id: int, now=None) -> str:
    with app.app_context():
        value = portal_status_of(db.session, patient_id, now or utcnow())
        db.session.remove()
        return value


def test_issue_replace_revoke_and_redeem_move_the_columns(app, staff_client, client, patient, mailbox):
    assert inputs(app, patient.id) == (False, None)
    assert names(staff_client.get("/patients?status=unregistered", headers=HX)) == ["Carter, Emma"]

    issue_pin(staff_client, patient.id, mailbox)
    (first,) = live_credentials(app, patient.id)
    assert inputs(app, patient.id) == (False, first.expires_at)
    assert names(staff_client.get("/patients?status=pending", headers=HX)) == ["Carter, Emma"]

    pin = issue_pin(staff_client, patient.id, mailbox)  # replaces the first
    (second,) = live_credentials(app, patient.id)
    assert second.id != first.id
    assert inputs(app, patient.id) == (False, second.expires_at)

    assert revoke(staff_client, patient.id, second.id).status_code == 200
    assert inputs(app, patient.id) == (False, None)
    assert names(staff_client.get("/patients?status=unregistered", headers=HX)) == ["Carter, Emma"]
    assert names(staff_client.get("/patients?status=pending", headers=HX)) == []

    pin = issue_pin(staff_client, patient.id, mailbox)
    response = register(client, pin, DOB.strftime("%m/%d/%Y"))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert inputs(app, patient.id) == (True, None)
    assert names(staff_client.get("/patients?status=registered", headers=HX)) == ["Carter, Emma"]
    assert names(staff_client.get("/patients?status=unregistered", headers=HX)) == []


def test_wrong_birth_dates_lock_the_pin_and_clear_pending(app, staff_client, client, patient, mailbox):
    pin = issue_pin(staff_client, patient.id, mailbox)
    for _ in range(5):  # the right PIN with a wrong date: each counts against that PIN
        register(client, pin, "05/18/2018")
    (credential,) = live_credentials(app, patient.id)
    assert credential.failed_attempts == 5
    assert inputs(app, patient.id) == (False, None)
    assert status(app, patient.id) == "unregistered"


def test_a_wrong_birth_date_under_the_lock_leaves_patient_rows_alone(app, staff_client, client, patient, mailbox):
    """On PostgreSQL a refresh locks the patient row, and a wrong birth date with a PIN that
    matched counts against that PIN: counts under the lock must not touch patients
    (neither its version, xmin, nor its last locker, xmax, changes), or they would contend with
    staff issuing. The 5th does."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("row versions (xmin) are PostgreSQL's; SQLite writes one transaction at a time")
    pin = issue_pin(staff_client, patient.id, mailbox)

    def row_version() -> tuple:
        with app.app_context():
            value = db.session.execute(
                text("SELECT xmin::text, xmax::text FROM patients WHERE id = :p"), {"p": patient.id}
            ).one()
            db.session.remove()
            return tuple(value)

    before = row_version()
    for _ in range(4):
        register(client, pin, "05/18/2018")
    assert live_credentials(app, patient.id)[0].failed_attempts == 4
    assert row_version() == before
    register(client, pin, "05/18/2018")
    assert row_version() != before and inputs(app, patient.id) == (False, None)


def test_expiry_needs_no_write(app, staff_client, patient, mailbox):
    issue_pin(staff_client, patient.id, mailbox)
    (credential,) = live_credentials(app, patient.id)
    assert status(app, patient.id, credential.expires_at - timedelta(seconds=1)) == "pending"
    assert status(app, patient.id, credential.expires_at) == "unregistered"
    assert inputs(app, patient.id) == (False, credential.expires_at)


def test_plain_sql_writes_are_kept_too(app, staff_client, practice, patient, mailbox):
    sibling = make_patient(app, practice, "Noah", "Carter", date(2016, 2, 2))
    issue_pin(staff_client, patient.id, mailbox)
    issue_pin(staff_client, sibling.id, mailbox)
    (credential,) = live_credentials(app, patient.id)
    later = credential.expires_at + timedelta(days=3)
    with app.app_context():
        # A second live PIN for the other audience: the later expiry wins.
        minor = RegistrationCredential(
            practice_id=practice.id, patient_id=patient.id, kind="pin", audience="minor", access_level="limited",
            pin_hash="scrypt:x", pin_bucket=7, send_by="none", issued_at=utcnow(), expires_at=later,
            failed_attempts=0, idempotency_key="sql-minor",
        )
        db.session.add(minor)
        db.session.commit()
        minor_id = minor.id
    assert inputs(app, patient.id) == (False, later)
    with app.app_context():
        db.session.execute(text("UPDATE registration_credentials SET failed_attempts = 5 WHERE id = :i"), {"i": minor_id})
        db.session.commit()
    assert inputs(app, patient.id) == (False, credential.expires_at)
    with app.app_context():
        # Moving a credential to another patient moves both patients' values.
        db.session.execute(
            text("UPDATE registration_credentials SET patient_id = :p, failed_attempts = 0 WHERE id = :i"),
            {"p": sibling.id, "i": minor_id},
        )
        db.session.execute(text("DELETE FROM registration_credentials WHERE id = :i"), {"i": credential.id})
        db.session.commit()
    assert inputs(app, patient.id) == (False, None)
    assert inputs(app, sibling.id)[1] == later
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO portal_users (practice_id, email, password_hash, created_at)"
                " VALUES (:p, 'sql@example.com', 'x', :now)"
            ),
            {"p": practice.id, "now": utcnow().replace(tzinfo=None)},
        )
        user_id = db.session.scalar(text("SELECT id FROM portal_users WHERE email = 'sql@example.com'"))
        db.session.execute(
            text(
                "INSERT INTO portal_links (portal_user_id, patient_id, access_level, audience, created_at)"
                " VALUES (:u, :p, 'full', 'guardian', :now)"
            ),
            {"u": user_id, "p": patient.id, "now": utcnow().replace(tzinfo=None)},
        )
        db.session.commit()
    assert inputs(app, patient.id) == (True, None)
    with app.app_context():
        db.session.execute(text("DELETE FROM portal_links WHERE patient_id = :p"), {"p": patient.id})
        db.session.commit()
    assert inputs(app, patient.id) == (False, None)
    with app.app_context():
        assert portal_status_inputs_disagreeing(db.session) == []


def test_the_migration_fills_the_columns_of_existing_patients(tmp_path, smtp):
    """Upgrade a SQLite database holding links and PINs from the revision before: the backfill.
    (SQLite is where a careless migration loses rows: rebuilding patients cascades.)"""
    url = f"sqlite:///{tmp_path / 'before.sqlite3'}"
    app = create_app(config_for(url, smtp[0].port))
    now = utcnow().replace(tzinfo=None)
    with app.app_context():
        upgrade(revision="984ee9d9a2f4")
        run = db.session.execute
        run(text("INSERT INTO practices (id, name, timezone, pin_lifetime_days, created_at) VALUES (1, 'Cedar', 'UTC', 30, :n)"), {"n": now})
        for pid, last in [(1, "Linked"), (2, "Pending"), (3, "Used"), (4, "Nothing")]:
            run(
                text(
                    "INSERT INTO patients (id, practice_id, chart_number, first_name, last_name, first_name_norm,"
                    " last_name_norm, date_of_birth, imported_portal_status, name_is_unofficial, created_at, updated_at)"
                    " VALUES (:id, 1, :id, 'A', :last, 'a', lower(:last), '2018-01-01', 'unregistered', 0, :n, :n)"
                ),
                {"id": pid, "last": last, "n": now},
            )
        run(text("INSERT INTO portal_users (id, practice_id, email, password_hash, created_at) VALUES (1, 1, 'p@x.test', 'x', :n)"), {"n": now})
        run(text("INSERT INTO portal_links (portal_user_id, patient_id, access_level, audience, created_at) VALUES (1, 1, 'full', 'guardian', :n)"), {"n": now})
        expires = now + timedelta(days=7)
        for cid, pid, used in [(1, 2, None), (2, 3, now)]:
            run(
                text(
                    "INSERT INTO registration_credentials (id, practice_id, patient_id, kind, audience, access_level,"
                    " pin_hash, pin_bucket, send_by, issued_at, expires_at, used_at, failed_attempts, idempotency_key)"
                    " VALUES (:c, 1, :p, 'pin', 'guardian', 'full', 'x', 1, 'none', :n, :e, :u, 0, :k)"
                ),
                {"c": cid, "p": pid, "n": now, "e": expires, "u": used, "k": f"k{cid}"},
            )
        db.session.commit()
        upgrade()
        rows = db.session.execute(text("SELECT last_name, portal_linked, pin_active_until FROM patients ORDER BY id")).all()
        assert [(r[0], bool(r[1]), r[2] is not None) for r in rows] == [
            ("Linked", True, False), ("Pending", False, True), ("Used", False, False), ("Nothing", False, False),
        ]
        assert portal_status_inputs_disagreeing(db.session) == []
        # Down and up again: no link or PIN is lost on the way (no table is rebuilt).
        db.session.remove()
        downgrade(revision="984ee9d9a2f4")
        upgrade()
        counts = db.session.execute(
            text("SELECT (SELECT count(*) FROM portal_links), (SELECT count(*) FROM registration_credentials)")
        ).one()
        assert tuple(counts) == (1, 2)
        assert portal_status_inputs_disagreeing(db.session) == []
        db.session.remove()
        db.engine.dispose()
