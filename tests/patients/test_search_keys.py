"""Issue 14: every way a patient's name gets in fills its search keys, so `obrien` finds O'Brien and
`jones` finds Smith-Jones whichever way they came (import, Update Basic Info, seed-demo, the
migration for patients that existed before the keys); the database refuses a row without them."""

from __future__ import annotations

import csv
from datetime import date

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import make_url, text
from sqlalchemy.exc import DatabaseError

from app import create_app
from blueprints.extensions import db
from models.base import utcnow
from services.patients.demo_data import DEMO_PASSWORD, DEMO_USERNAME
from services.patients.patient_search import PatientSearch, search_patients
from tests.support.app_settings import TEST_DATABASE_URL, config_for
from tests.support.builders import make_patient
from tests.support.html_readers import names
from tests.support.outside_parts import require_part
from tests.support.staff_screens import HX, sign_in

BEFORE = "589e74b3e0fa"  # the revision before patients had search keys


def write_csv(path, rows: list[tuple[str, str, str]]):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["chart_number", "first_name", "last_name", "date_of_birth"])
        writer.writerows([(chart, first, last, "2018-05-17") for chart, first, last in rows])
    return path


def run_import(runner, path):
    return runner.invoke(args=["patients", "import", str(path), "--practice", "Cedar Pediatrics"])


def post_basic_info(client, patient_id: int, first: str, last: str):
    return client.post(f"/patients/{patient_id}/basic-info", data={"first_name": first, "last_name": last},
                       headers={"X-CSRFToken": client.csrf_token})


def found(client, last: str) -> list[str]:
    return names(client.get("/patients", query_string={"last": last}, headers=HX))


def test_imported_names_are_found_without_their_punctuation(app, runner, staff_client, tmp_path):
    path = write_csv(tmp_path / "patients.csv", [
        ("1001", "Zoë", "O'Brien"), ("1002", "Ella", "Smith-Jones"), ("1003", "Lucía", "García López"),
    ])
    assert run_import(runner, path).exit_code == 0
    assert found(staff_client, "obrien") == ["O'Brien, Zoë"]
    assert found(staff_client, "smith jones") == found(staff_client, "jones") == ["Smith-Jones, Ella"]
    assert found(staff_client, "lopez") == ["García López, Lucía"]
    # A name changed by a later import is found by its new keys, and no longer by the old ones.
    path = write_csv(tmp_path / "again.csv", [("1002", "Ella", "Smith-Hill")])
    assert run_import(runner, path).exit_code == 0
    assert found(staff_client, "hill") == ["Smith-Hill, Ella"] and found(staff_client, "jones") == []


def test_update_basic_info_refreshes_the_search_keys(app, practice, staff_client):
    patient = make_patient(app, practice, "Ella", "Smith", date(2014, 2, 3))
    assert post_basic_info(staff_client, patient.id, "Ella", "Smith-Jones").status_code == 302
    assert found(staff_client, "jones") == found(staff_client, "smithjones") == ["Smith-Jones, Ella"]
    assert post_basic_info(staff_client, patient.id, "Ella", "O’Neill").status_code == 302
    assert found(staff_client, "oneill") == ["O’Neill, Ella"] and found(staff_client, "jones") == []


def test_seeded_demo_patients_are_found_without_their_punctuation(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    client = app.test_client()
    assert sign_in(client, DEMO_USERNAME, DEMO_PASSWORD).status_code == 302
    assert found(client, "obrien") and all(name.startswith("O'Brien, ") for name in found(client, "obrien"))
    jones = found(client, "jones")
    assert any(name.startswith("Smith-Jones, ") for name in jones)
    assert all(name.startswith(("Smith-Jones, ", "Jones, ")) for name in jones)


@pytest.mark.parametrize("change", [
    "UPDATE patients SET last_name_key = '' WHERE id = :id",
    "UPDATE patients SET first_name_key = NULL WHERE id = :id",
    "UPDATE patients SET last_name_part_key = NULL WHERE id = :id",
])
def test_the_database_refuses_a_patient_without_search_keys(app, practice, change):
    patient = make_patient(app, practice, "Ella", "Smith", date(2014, 2, 3))
    with app.app_context():
        with pytest.raises(DatabaseError):
            db.session.execute(text(change), {"id": patient.id})
            db.session.flush()
        db.session.rollback()
        with pytest.raises(DatabaseError):
            _insert_without_keys(db.session.execute, practice.id, 99, "Jones")
            db.session.flush()
        db.session.rollback()


def _insert_without_keys(run, practice_id: int, patient_id: int, last: str) -> None:
    """A patient row as written before the keys existed (the columns of revision BEFORE)."""
    now = utcnow().replace(tzinfo=None)
    run(text(
        "INSERT INTO patients (id, practice_id, chart_number, first_name, last_name, first_name_norm, last_name_norm,"
        " date_of_birth, imported_portal_status, name_is_unofficial, created_at, updated_at)"
        " VALUES (:id, :p, :id, 'Ann', :last, 'ann', lower(CAST(:last AS VARCHAR)), '2018-01-01', 'unregistered', false, :n, :n)"
    ), {"id": patient_id, "p": practice_id, "last": last, "n": now})


def _migration_database(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'before.sqlite3'}"
    if not TEST_DATABASE_URL:
        require_part("PostgreSQL", "TEST_DATABASE_URL is not set")
    import psycopg
    from psycopg import sql

    url = make_url(TEST_DATABASE_URL)
    name = f"{url.database}_keys_migration"
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password, dbname="postgres",
                         autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_migration_fills_the_keys_of_existing_patients_and_keeps_their_rows(kind, tmp_path, smtp):
    app = create_app(config_for(_migration_database(kind, tmp_path), smtp[0].port))
    now = utcnow()
    with app.app_context():
        upgrade(revision=BEFORE)
        run = db.session.execute
        run(text("INSERT INTO practices (id, name, slug, timezone, pin_lifetime_days, created_at)"
                 " VALUES (1, 'Cedar', 'cedar', 'UTC', 7, :n)"), {"n": now.replace(tzinfo=None)})
        for patient_id, last in enumerate(["O'Brien", "Smith-Jones", "García López", "Carter"], start=1):
            _insert_without_keys(run, 1, patient_id, last)
        db.session.commit()
        upgrade()

        def search(last: str) -> list[str]:
            page = search_patients(db.session, 1, PatientSearch(last=last), now, 25)
            return [row.patient.last_name for row in page.rows]

        assert search("obrien") == ["O'Brien"]
        assert search("smithjones") == search("jones") == ["Smith-Jones"]
        assert search("lopez") == search("garcialopez") == ["García López"]
        assert search("carter") == ["Carter"]
        db.session.commit()
        # Down and up again: no patient is lost on the way (no table is rebuilt).
        db.session.remove()
        downgrade(revision=BEFORE)
        assert db.session.execute(text("SELECT count(*) FROM patients")).scalar() == 4
        db.session.commit()
        upgrade()
        assert search("jones") == ["Smith-Jones"]
        db.session.remove()
        db.engine.dispose()
