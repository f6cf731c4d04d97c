"""Rules the database itself enforces, and issuing under concurrency, on both databases."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from blueprints.extensions import db
from models import Patient, RegistrationCredential, utcnow
from services.actor import Actor
from services.credentials.registration import AlreadyIssued, IssueRequest, SigningKeys, issue_credential
from tests.support.builders import make_patient


def credential(patient, audience="guardian", **fields) -> RegistrationCredential:
    now = utcnow()
    values = dict(
        practice_id=patient.practice_id, patient_id=patient.id, kind="pin", audience=audience,
        access_level="full", pin_hash="scrypt:x", pin_bucket=1, send_by="none", issued_at=now,
        expires_at=now + timedelta(days=7), failed_attempts=0, idempotency_key=f"k-{audience}-{now.timestamp()}-{id(fields)}",
    )
    values.update(fields)
    return RegistrationCredential(**values)


@pytest.fixture
def patient(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))


def test_at_most_one_active_pin_per_patient_and_audience(app, patient):
    with app.app_context():
        db.session.add(credential(patient, idempotency_key="a"))
        db.session.commit()
        db.session.add(credential(patient, audience="minor", idempotency_key="b"))
        db.session.commit()  # another audience is fine
        db.session.add(credential(patient, idempotency_key="c"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_a_revoked_or_used_pin_makes_room_for_a_new_one(app, patient):
    with app.app_context():
        db.session.add(credential(patient, idempotency_key="a", revoked_at=utcnow(), revoked_reason="test"))
        db.session.add(credential(patient, idempotency_key="b", used_at=utcnow()))
        db.session.add(credential(patient, idempotency_key="c"))
        db.session.commit()


@pytest.mark.parametrize(
    "fields",
    [
        {"pin_hash": None},  # a PIN without its hash
        {"kind": "password"},
        {"audience": "uncle"},
        {"revoked_at": "now", "revoked_reason": None},  # revoked without a reason
        {"expires_at": "past"},  # expiring before it was issued
    ],
)
def test_check_constraints_refuse_wrong_states(app, patient, fields):
    with app.app_context():
        if fields.get("revoked_at") == "now":
            fields["revoked_at"] = utcnow()
        if fields.get("expires_at") == "past":
            fields["expires_at"] = utcnow() - timedelta(days=1)
        db.session.add(credential(patient, idempotency_key="x", **fields))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_foreign_keys_are_enforced(app):
    with app.app_context():
        orphan = Patient(practice_id=999_999, chart_number="X1", date_of_birth=date(2020, 1, 1))
        orphan.set_names("Ada", "Lovelace")
        db.session.add(orphan)
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def _issue_in_thread(app, patient_id, key, results):
    with app.app_context():
        try:
            patient = db.session.get(Patient, patient_id)
            outcome = issue_credential(
                db.session, Actor(practice_id=patient.practice_id), patient=patient,
                request=IssueRequest(kind="pin", access_level="full", send_by="none", audience="guardian", idempotency_key=key),
                keys=SigningKeys(pin_lookup_key=b"k" * 32, secret_key="s"),
                default_portal_url="http://portal.example.test/portal/register",
            )
            results.append(("issued", outcome.credential_id))
        except AlreadyIssued:
            results.append(("already", None))
        except Exception as error:  # surfaced by the assertion below
            results.append(("error", repr(error)))
        finally:
            db.session.remove()


def _run_concurrently(app, patient_id, keys):
    results: list = []
    threads = [threading.Thread(target=_issue_in_thread, args=(app, patient_id, key, results)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_issues_for_one_patient_leave_exactly_one_active_pin(app, patient):
    results = _run_concurrently(app, patient.id, [f"window-{n}" for n in range(5)])
    assert [r[0] for r in results] == ["issued"] * 5, results
    with app.app_context():
        rows = db.session.scalars(select(RegistrationCredential).where(RegistrationCredential.patient_id == patient.id)).all()
        assert len(rows) == 5
        assert sum(1 for r in rows if r.revoked_at is None) == 1
        # Serialised by the patient lock: each later issue revoked the one before it.
        revoked = sorted((r for r in rows if r.revoked_at is not None), key=lambda r: r.id)
        assert all(r.revoked_reason for r in revoked)


def test_concurrent_submissions_of_one_window_issue_one_pin(app, patient):
    results = _run_concurrently(app, patient.id, ["same-window"] * 4)
    assert sorted(r[0] for r in results) == ["already"] * 3 + ["issued"], results
    with app.app_context():
        rows = db.session.scalars(select(RegistrationCredential).where(RegistrationCredential.patient_id == patient.id)).all()
        assert len(rows) == 1
