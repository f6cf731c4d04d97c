"""An action and its audit row commit together or not at all: with the database refusing every
audit insert, issuing, revoking and redeeming fail (a 500 page) and write nothing else."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import func, select, text

from blueprints.extensions import db
from models import AuditEvent, PortalLink, PortalUser, RegistrationCredential, WelcomeMessage
from tests.support.builders import make_patient
from tests.support.portal import issue_pin, register
from tests.support.rows import credentials
from tests.support.staff_screens import issue, revoke


@pytest.fixture
def app_config():
    # The 500 page, as a person gets it, instead of the exception the test client would re-raise.
    return {"PROPAGATE_EXCEPTIONS": False}


@contextmanager
def audit_inserts_refused(app):
    """A trigger that makes the database refuse every new audit row, for the block's length."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            statements = [
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ "
                "LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
            ]
            undo = ["DROP TRIGGER refuse_audit ON audit_events", "DROP FUNCTION refuse_audit()"]
        else:
            statements = [
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            ]
            undo = ["DROP TRIGGER refuse_audit"]
        with db.engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
        db.session.remove()
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as connection:
            for statement in undo:
                connection.execute(text(statement))


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


def test_an_issue_whose_audit_row_is_refused_issues_and_sends_nothing(app, staff_client, child, mailbox):
    audit_rows = count(app, AuditEvent)
    with audit_inserts_refused(app):
        response = issue(staff_client, child.id)
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert credentials(app, child.id) == []
    assert count(app, WelcomeMessage) == 0
    assert mailbox.messages == []
    assert count(app, AuditEvent) == audit_rows


def test_a_revocation_whose_audit_row_is_refused_leaves_the_pin_active(app, staff_client, child, mailbox):
    issue_pin(staff_client, child.id, mailbox)
    [credential] = credentials(app, child.id)
    with audit_inserts_refused(app):
        response = revoke(staff_client, child.id, credential.id)
    assert response.status_code == 500
    [after] = credentials(app, child.id)
    assert after.revoked_at is None and after.revoked_reason is None
    assert "Active" in staff_client.get(f"/patients/{child.id}").get_data(as_text=True)


def test_a_redemption_whose_audit_row_is_refused_opens_no_account(app, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox)
    parent = app.test_client()
    with audit_inserts_refused(app):
        response = register(parent, pin, "2018-05-17")
    assert response.status_code == 500
    [credential] = credentials(app, child.id)
    assert credential.used_at is None and credential.failed_attempts == 0
    assert count(app, PortalUser) == 0 and count(app, PortalLink) == 0
    # Once the trail works again, the same PIN opens the account.
    assert register(parent, pin, "2018-05-17").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(RegistrationCredential.used_at)) is not None
