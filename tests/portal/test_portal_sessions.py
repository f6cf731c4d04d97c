"""A parent's portal session lives on the server: the cookie names a row by a random token whose
SHA-256 alone is stored; sign-out ends the row (a copied cookie is dead), and so do the idle and
absolute limits (PORTAL_SESSION_IDLE_MINUTES, PORTAL_SESSION_MAX_HOURS) on the app's clock."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import AuditEvent, PortalSession, PortalUser, utcnow
from tests.support.app_settings import MovableClock
from tests.support.builders import make_patient
from tests.support.html_readers import csrf_token_from
from tests.support.portal import PARENT_PASSWORD, issue_pin, portal_post, register


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


@pytest.fixture
def clock(app):
    return MovableClock(app, utcnow().replace(microsecond=0))


def portal_sessions(app) -> list[PortalSession]:
    with app.app_context():
        rows = db.session.scalars(select(PortalSession).order_by(PortalSession.id)).all()
        db.session.expunge_all()
        return rows


def registered_parent(app, staff_client, child, mailbox):
    client = app.test_client()
    assert register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17", email="dana@example.com").status_code == 303
    return client


def copy_of(app, client):
    """Another browser holding a copy of this one's session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def sees_chart(client, child) -> bool:
    response = client.get(f"/portal/patients/{child.id}/chart")
    if response.status_code == 200:
        assert "Emma" in response.get_data(as_text=True)
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/portal/signin")
    assert "Emma" not in client.get(f"/portal/patients/{child.id}/chart", follow_redirects=True).get_data(as_text=True)
    return False


def test_a_cookie_copied_before_sign_out_is_dead_after_it(app, staff_client, child, mailbox):
    client = registered_parent(app, staff_client, child, mailbox)
    thief = copy_of(app, client)
    assert sees_chart(thief, child), "the copy works while the session lives"
    token = csrf_token_from(client.get("/portal/").get_data(as_text=True))
    assert client.post("/portal/signout", data={"csrf_token": token}).status_code == 303

    response = thief.get(f"/portal/patients/{child.id}/chart")
    assert response.status_code == 302 and response.headers["Location"].startswith("/portal/signin")
    assert "Emma" not in response.get_data(as_text=True)
    page = thief.get(f"/portal/patients/{child.id}/chart", follow_redirects=True).get_data(as_text=True)
    assert "Emma" not in page and "2018" not in page and "Sign in to the Patient Portal" in page
    [row] = portal_sessions(app)
    assert row.ended_at is not None and row.end_reason == "signed out"
    with app.app_context():
        sign_outs = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sign-out")).all()
        assert [(event.practice_id, event.detail) for event in sign_outs] == [(child.practice_id, "portal")]


def test_the_database_holds_the_tokens_hash_not_the_token(app, staff_client, child, mailbox):
    client = registered_parent(app, staff_client, child, mailbox)
    serializer = app.session_interface.get_signing_serializer(app)
    cookie = serializer.loads(client.get_cookie("session").value)
    token = cookie["portal_sid"]
    assert isinstance(token, str) and len(token) >= 40
    assert not any(isinstance(value, int) for value in cookie.values()), "the cookie names an account id"
    [row] = portal_sessions(app)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.token_hash != token
    with app.app_context():
        [user] = db.session.scalars(select(PortalUser)).all()
        assert row.portal_user_id == user.id
        columns = [str(value) for value in db.session.execute(select(PortalSession.__table__)).one()]
        assert token not in columns


def test_signing_in_again_ends_the_browsers_previous_session(app, staff_client, child, mailbox):
    client = registered_parent(app, staff_client, child, mailbox)
    old_copy = copy_of(app, client)
    assert portal_post(client, "/portal/signin", email="dana@example.com", password=PARENT_PASSWORD).status_code == 303
    assert sees_chart(client, child) and not sees_chart(old_copy, child)
    assert [row.end_reason for row in portal_sessions(app)] == ["replaced", None]


def test_the_session_ends_after_thirty_idle_minutes(app, staff_client, child, mailbox, clock):
    client = registered_parent(app, staff_client, child, mailbox)
    for _ in range(3):  # activity keeps it alive past 30 minutes in all
        clock.advance(minutes=29, seconds=59)
        assert sees_chart(client, child)
    clock.advance(minutes=30)
    page = client.get(f"/portal/patients/{child.id}/chart", follow_redirects=True).get_data(as_text=True)
    assert "without activity" in page and "Emma" not in page
    assert not sees_chart(client, child)
    assert [row.end_reason for row in portal_sessions(app)] == ["idle"]


def test_the_session_ends_twelve_hours_after_sign_in_whatever_the_activity(app, staff_client, child, mailbox, clock):
    client = registered_parent(app, staff_client, child, mailbox)
    for _ in range(47):
        clock.advance(minutes=15)
        assert sees_chart(client, child)
    clock.advance(minutes=14, seconds=59)
    assert sees_chart(client, child)  # 11:59:59 after sign-in
    clock.advance(seconds=1)
    assert not sees_chart(client, child)
    assert [row.end_reason for row in portal_sessions(app)] == ["too old"]


class TestConfiguredLimits:
    @pytest.fixture
    def app_config(self):
        return {"PORTAL_SESSION_IDLE_MINUTES": 5, "PORTAL_SESSION_MAX_HOURS": 1}

    def test_the_limits_come_from_their_config_keys(self, app, staff_client, child, mailbox, clock):
        client = registered_parent(app, staff_client, child, mailbox)
        clock.advance(minutes=4, seconds=59)
        assert sees_chart(client, child)
        clock.advance(minutes=5)
        assert not sees_chart(client, child)
        assert [row.end_reason for row in portal_sessions(app)] == ["idle"]


def _signs_out_with(client, token: str) -> int:
    return client.post("/portal/signout", data={"csrf_token": token}).status_code


@pytest.mark.parametrize("start", ["sign-in", "registration"])
def test_a_csrf_token_read_before_the_portal_session_began_does_not_sign_its_forms(app, staff_client, child, mailbox, start):
    """Someone who planted or read the token on the sign-in or registration page must not be able
    to post as the parent once they are signed in: the session starts with a new CSRF secret."""
    pin = issue_pin(staff_client, child.id, mailbox)
    if start == "sign-in":
        register(app.test_client(), pin, "2018-05-17", email="dana@example.com")
        client = app.test_client()
        before = csrf_token_from(client.get("/portal/signin").get_data(as_text=True))
        response = client.post("/portal/signin", data={"csrf_token": before, "email": "dana@example.com", "password": PARENT_PASSWORD})
    else:
        client = app.test_client()
        before = csrf_token_from(client.get("/portal/register").get_data(as_text=True))
        response = register(client, pin, "2018-05-17", email="dana@example.com")
    assert response.status_code == 303 and response.headers["Location"] == "/portal/"
    assert _signs_out_with(client, before) == 400
    assert sees_chart(client, child), "the refused post left the session alone"
    after = csrf_token_from(client.get("/portal/").get_data(as_text=True))
    assert after != before
    assert _signs_out_with(client, after) == 303
    assert not sees_chart(client, child)
