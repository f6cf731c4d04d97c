"""The hash the app configures when nothing overrides it, for PINs, verification answers, staff and
parents' passwords: werkzeug's scrypt at full strength (N = 2**15, r = 8, p = 1: 32 MiB per hash),
the salted KDF that README ("Passwords", "PINs") and STACK-NOTES.md promise. Every other test runs
with a cheap scrypt (tests/support/app_settings.py), so without this one a weak default would go
unnoticed: here the app's own default is kept and the stored hashes are read back from the database."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from app import create_app
from blueprints.extensions import db
from config import Config
from models import PortalUser, RegistrationCredential, StaffUser
from tests.support.builders import make_patient
from tests.support.html_readers import csrf_token_from
from tests.support.portal import issue_pin, register
from tests.support.staff_screens import issue, sign_in

# werkzeug's format: method:N:r:p$salt$hash
SCRYPT = re.compile(r"^scrypt:(\d+):(\d+):(\d+)\$")
STAFF_PASSWORD = "juniper-lantern-orchard"


def full_strength_scrypt(stored: str) -> bool:
    match = SCRYPT.match(stored or "")
    return bool(match) and int(match[1]) >= 2**15 and int(match[2]) >= 8 and int(match[3]) >= 1


def production_hash_method() -> str:
    """What create_app configures from the environment alone (no test override)."""
    app = create_app({"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        db.engine.dispose()
    return app.config["HASH_METHOD"]


def test_the_configured_default_is_werkzeugs_full_strength_scrypt(tmp_path):
    from werkzeug.security import generate_password_hash

    declared = Config(tmp_path, environ={"SECRET_KEY": "k"}).as_mapping()["HASH_METHOD"]
    assert declared == production_hash_method() == "scrypt"  # werkzeug's default parameters
    assert full_strength_scrypt(generate_password_hash("ABCD2345", method=declared))


@pytest.fixture
def app_config():
    """The app as deployed: the hash method create_app chooses, not the tests' cheap one."""
    return {"HASH_METHOD": production_hash_method()}


def test_pins_answers_staff_and_parent_passwords_are_stored_with_full_strength_scrypt(app, runner, practice, mailbox):
    result = runner.invoke(args=["staff", "create", "jlee", "--practice", "Cedar Pediatrics", "--password", STAFF_PASSWORD])
    assert result.exit_code == 0, result.output
    staff = app.test_client()
    assert sign_in(staff, "jlee", STAFF_PASSWORD).status_code == 302
    staff.csrf_token = csrf_token_from(staff.get("/patients").get_data(as_text=True))

    emma = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    noah = make_patient(app, practice, "Noah", "Carter", date(2016, 3, 3))
    pin = issue_pin(staff, emma.id, send_by="none")
    asked = issue(staff, noah.id, method="question", question="First pet?", answer="Rex", send_by="none")
    assert asked.status_code == 200, asked.get_data(as_text=True)
    assert register(app.test_client(), pin, "2018-05-17", email="dana.carter@example.com").status_code == 303

    with app.app_context():
        stored = {
            "staff password": db.session.scalar(select(StaffUser.password_hash).where(StaffUser.username == "jlee")),
            "PIN": db.session.scalar(select(RegistrationCredential.pin_hash).where(RegistrationCredential.patient_id == emma.id)),
            "verification answer": db.session.scalar(
                select(RegistrationCredential.answer_hash).where(RegistrationCredential.patient_id == noah.id)
            ),
            "parent password": db.session.scalar(select(PortalUser.password_hash)),
        }
        db.session.remove()
    weak = {kind: (value or "")[: (value or "").find("$")] for kind, value in stored.items() if not full_strength_scrypt(value)}
    assert not weak, f"stored with a weaker method than scrypt N>=2**15, r>=8, p>=1: {weak}"
