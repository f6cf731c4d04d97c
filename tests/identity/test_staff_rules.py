"""Staff logins: a username is 3 to 64 visible ASCII characters (letters, digits, . _ - @), so
no lookalike, zero-width or bidi character makes two logins read alike; a password follows the
portal's rules (12 characters at least, not a common one). The same on the Staff page, on the
command line (`staff create`) and, for usernames, in the database itself."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from blueprints.extensions import db
from models import StaffUser
from tests.support.builders import make_staff
from tests.support.staff_screens import sign_in, signed_in_admin

GOOD_PASSWORD = "cedar-front-desk-2026"
BAD_USERNAMES = [
    "\uff1dadmin",        # fullwidth equals sign
    "mor\u200bgan",       # zero-width space: reads as "morgan"
    "morgan\u202e",       # right-to-left override
    "\u2066alex\u2069",   # bidi isolates
    "jo lee",             # a space
    "josé",               # not ASCII
    "=cmd",               # a formula
    "ab",                 # too short
    "a" * 65,             # too long
]
WEAK_PASSWORDS = [
    ("aaaaaaaaaa", "Use at least 12 characters."),
    ("password12", "Use at least 12 characters."),
    ("password1234", "This password is too common."),
    ("sunshine2026!", "This password is too common."),
]


@pytest.fixture
def admin(app, practice):
    return signed_in_admin(app, practice)


def staff_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(StaffUser))


def add_on_the_page(admin, username: str, password: str = GOOD_PASSWORD):
    return admin.post("/practice/staff", data={"username": username, "password": password, "csrf_token": admin.csrf_token})


@pytest.mark.parametrize("username", BAD_USERNAMES)
def test_the_staff_page_refuses_a_username_outside_visible_ascii(app, admin, username):
    before = staff_count(app)
    response = add_on_the_page(admin, username)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<p class="error" id="username-error">A username has 3 to 64 characters' in page
    assert staff_count(app) == before


@pytest.mark.parametrize("username", BAD_USERNAMES)
def test_the_command_line_refuses_a_username_outside_visible_ascii(app, runner, practice, username):
    result = runner.invoke(args=["staff", "create", username, "--practice", practice.name, "--password", GOOD_PASSWORD])
    assert result.exit_code != 0
    assert "A username has 3 to 64 characters: letters A-Z or a-z, digits, and . _ - @" in result.stderr
    assert staff_count(app) == 0


@pytest.mark.parametrize("username", ["j.lee", "front_desk-2", "jlee@cedar.example", "Sam"])
def test_visible_ascii_usernames_are_accepted_and_sign_in(app, admin, username):
    response = add_on_the_page(admin, username)
    assert response.status_code == 302
    assert sign_in(app.test_client(), username, GOOD_PASSWORD).status_code == 302


@pytest.mark.parametrize("username", ["mor\u200bgan", "\uff1dadmin", "ab", "a" * 65])
def test_the_database_refuses_such_a_username_whatever_writes_it(app, practice, username):
    with app.app_context():
        db.session.add(StaffUser(username=username, password_hash="x", is_active=True))
        with pytest.raises(DBAPIError, match="3 to 64"):
            db.session.flush()
        db.session.rollback()
        staff = StaffUser(username="riley", password_hash="x", is_active=True)
        db.session.add(staff)
        db.session.commit()
        staff.username = username
        with pytest.raises(DBAPIError, match="3 to 64"):
            db.session.commit()
        db.session.rollback()


@pytest.mark.parametrize("password, reason", WEAK_PASSWORDS)
def test_the_staff_page_refuses_a_weak_password_beside_the_field(app, admin, password, reason):
    before = staff_count(app)
    response = add_on_the_page(admin, "sam", password)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="error" id="password-error">{reason}' in page
    assert staff_count(app) == before


def test_the_staff_page_refuses_a_password_built_from_the_username(app, admin):
    response = add_on_the_page(admin, "frontdesk", "frontdesk-2026!")
    assert response.status_code == 422
    assert "Do not build the password from the username." in response.get_data(as_text=True)


@pytest.mark.parametrize("password, reason", WEAK_PASSWORDS)
def test_the_command_line_refuses_a_weak_password_for_a_new_login_and_a_reset(app, runner, practice, password, reason):
    result = runner.invoke(args=["staff", "create", "jlee", "--practice", practice.name, "--password", password])
    assert result.exit_code != 0 and reason in result.stderr
    assert staff_count(app) == 0
    make_staff(app, practice, "alex")
    reset = runner.invoke(args=["staff", "create", "alex", "--practice", practice.name, "--password", password])
    assert reset.exit_code != 0 and reason in reset.stderr
    assert sign_in(app.test_client(), "alex").status_code == 302  # the old password still works
