"""Data the tests start from: practices, staff and patients made through the services, read back
as plain copies usable outside an app context."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

from blueprints.extensions import db
from models import Patient, Practice
from services.identity.staff import PASSWORD_HASH_METHOD, create_practice, create_staff

STAFF_PASSWORD = "correct-horse-battery"


def snapshot(row) -> SimpleNamespace:
    """A detached, plain copy of a row's columns: tests read it outside any app context."""
    return SimpleNamespace(**{column.key: getattr(row, column.key) for column in row.__table__.columns})


def make_practice(app, name: str = "Cedar Pediatrics", timezone: str = "America/New_York", **fields):
    with app.app_context():
        practice = create_practice(db.session, name, fields.pop("portal_url", None), timezone)
        for key, value in fields.items():
            setattr(practice, key, value)
        db.session.commit()
        return snapshot(practice)


def make_staff(app, practice, username: str = "alex", admin: bool = False) -> int:
    with app.app_context():
        staff = create_staff(
            db.session, username, STAFF_PASSWORD, db.session.get(Practice, practice.id), admin,
            hash_method=app.config.get("HASH_METHOD", PASSWORD_HASH_METHOD),
        )
        db.session.commit()
        return staff.id


_chart = iter(range(10_000, 10_000_000))


def make_patient(app, practice, first: str = "Emma", last: str = "Carter", dob: date = date(2018, 5, 17), **fields):
    with app.app_context():
        patient = Patient(
            practice_id=practice.id,
            chart_number=fields.pop("chart_number", f"C{next(_chart)}"),
            date_of_birth=dob,
            guardian_email=fields.pop("guardian_email", "parent@example.com"),
            imported_portal_status=fields.pop("imported_portal_status", "unregistered"),
            name_is_unofficial=fields.pop("name_is_unofficial", False),
            **fields,
        )
        patient.set_names(first, last)
        db.session.add(patient)
        db.session.commit()
        return snapshot(patient)


def years_ago(years: int, days: int = 0) -> date:
    today = date.today()
    try:
        birthday = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        birthday = today.replace(year=today.year - years, day=28)
    return birthday - timedelta(days=days)
