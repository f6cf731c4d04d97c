"""Roles: practice admins edit the practice's settings (PIN lifetime, message
templates, staff, audit export); other staff get 403 from the server for every one of them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import StaffMembership, StaffUser
from tests.support.builders import make_staff
from tests.support.staff_screens import sign_in, signed_in_admin

ADMIN_PAGES = [
    ("GET", "/practice/settings"),
    ("POST", "/practice/settings"),
    ("GET", "/practice/templates"),
    ("GET", "/practice/templates/email"),
    ("POST", "/practice/templates/text"),
    ("GET", "/practice/staff"),
    ("POST", "/practice/staff"),
    ("POST", "/practice/staff/1/remove"),
    ("GET", "/practice/audit"),
    ("GET", "/practice/audit.csv?from=2026-01-01&to=2026-12-31"),
]


@pytest.fixture
def admin(app, practice):
    return signed_in_admin(app, practice)


def members(app, practice_id) -> dict[str, bool]:
    with app.app_context():
        rows = db.session.execute(
            select(StaffUser.username, StaffMembership.is_admin)
            .join(StaffMembership, StaffMembership.staff_id == StaffUser.id)
            .where(StaffMembership.practice_id == practice_id)
        ).all()
        return dict(rows)


@pytest.mark.parametrize("method, path", ADMIN_PAGES)
def test_staff_who_are_not_admins_get_403(app, staff_client, practice, method, path):
    before = members(app, practice.id)
    data = {"pin_lifetime_days": "3", "body": "x", "username": "eve", "password": "x" * 12, "action": "save"}
    if method == "GET":
        response = staff_client.get(path)
    else:
        response = staff_client.post(path, data=data, headers={"X-CSRFToken": staff_client.csrf_token})
    assert response.status_code == 403
    assert members(app, practice.id) == before
    page = staff_client.get("/patients").get_data(as_text=True)
    assert ">Practice Settings</a>" not in page


def test_an_admin_adds_staff_who_can_then_sign_in_without_admin_rights(app, admin, practice):
    response = admin.post("/practice/staff", data={"username": "sam", "password": "correct horse 1", "csrf_token": admin.csrf_token})
    assert response.status_code == 302
    assert members(app, practice.id) == {"morgan": True, "sam": False}
    with app.app_context():
        from models import AuditEvent

        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "settings change")).all()
        assert event.staff_username == "morgan" and event.detail.endswith("(sam) added") and "correct horse" not in event.detail
    sam = app.test_client()
    assert sign_in(sam, "sam", "correct horse 1").status_code == 302
    assert sam.get("/practice/settings").status_code == 403


def test_an_existing_username_is_refused_so_no_password_of_another_practice_is_reset(app, admin, other_practice):
    make_staff(app, other_practice, "riley")
    response = admin.post("/practice/staff", data={"username": "riley", "password": "a new password!", "csrf_token": admin.csrf_token})
    assert response.status_code == 422 and "That username is taken" in response.get_data(as_text=True)
    assert sign_in(app.test_client(), "riley").status_code == 302  # the old password still works


def test_a_removed_staff_member_is_out_at_the_next_click(app, admin, staff_client, practice):
    assert staff_client.get("/patients").status_code == 200
    with app.app_context():
        alex = db.session.scalar(select(StaffUser.id).where(StaffUser.username == "alex"))
    response = admin.post(f"/practice/staff/{alex}/remove", data={"csrf_token": admin.csrf_token})
    assert response.status_code == 302 and members(app, practice.id) == {"morgan": True}
    assert staff_client.get("/patients").status_code == 302


def test_an_admin_cannot_remove_themselves(app, admin, practice):
    with app.app_context():
        morgan = db.session.scalar(select(StaffUser.id).where(StaffUser.username == "morgan"))
    response = admin.post(f"/practice/staff/{morgan}/remove", data={"csrf_token": admin.csrf_token})
    assert response.status_code == 409 and "cannot remove yourself" in response.get_data(as_text=True)
    assert members(app, practice.id) == {"morgan": True}
