"""Scaling out: two app instances on one database and one Redis behave as one app.
Nothing that matters lives in a process's memory: a PIN issued on one is redeemed on the other,
a staff session started on one is honoured (and its sign-out obeyed) by the other, a launch
token spent on one is refused by the other, and the rate limit counts across both."""

from __future__ import annotations

import pytest

from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.launch import LAUNCH_SECRET, claims, launch_token
from tests.support.portal import issue_pin, register
from tests.support.rate_limits import refused
from tests.support.staff_screens import sign_in

SHARED = {"redis": True, "LAUNCH_SECRET": LAUNCH_SECRET, "PORTAL_RATE_LIMIT": "3/minute"}


@pytest.mark.parametrize("app_config", [SHARED], indirect=True)
def test_issue_on_one_instance_and_redeem_on_the_other(app, twin, practice, mailbox):
    make_staff(app, practice)
    patient = make_patient(app, practice, "Emma", "Carter")
    staff = app.test_client()
    sign_in(staff)
    staff.csrf_token = csrf_token_from(staff.get("/patients").get_data(as_text=True))
    pin = issue_pin(staff, patient.id, mailbox)
    parent = twin.test_client()
    assert register(parent, pin, patient.date_of_birth.isoformat()).status_code == 303
    assert "Emma" in parent.get("/portal/").get_data(as_text=True)


@pytest.mark.parametrize("app_config", [SHARED], indirect=True)
def test_a_staff_session_is_the_same_on_both_and_sign_out_on_one_ends_it_on_both(app, twin, practice):
    make_staff(app, practice)
    first = app.test_client()
    sign_in(first)
    cookie = first.get_cookie("session").value
    second = twin.test_client()
    second.set_cookie("session", cookie)  # a load balancer sends the next request elsewhere
    page = second.get("/patients")
    assert page.status_code == 200
    token = csrf_token_from(page.get_data(as_text=True))
    assert second.post("/signout", data={"csrf_token": token}).status_code == 302
    assert first.get("/patients").status_code == 302


@pytest.mark.parametrize("app_config", [SHARED], indirect=True)
def test_a_launch_token_spent_on_one_is_refused_on_the_other(app, twin, practice):
    make_staff(app, practice)
    token = launch_token(claims())
    assert app.test_client().get("/launch?token=" + token).status_code == 302
    assert twin.test_client().get("/launch?token=" + token).status_code == 403


@pytest.mark.parametrize("app_config", [SHARED], indirect=True)
def test_the_portal_limit_counts_across_both_instances(app, twin, practice):
    first, second = app.test_client(), twin.test_client()
    for client in (first, second, first):
        assert register(client, "ZZZZ-ZZZZ", "2018-05-17").status_code == 422
    refused(register(second, "ZZZZ-ZZZZ", "2018-05-17"))


@pytest.mark.parametrize(
    "app_config, expected",
    [({"PROXY_COUNT": 1}, "203.0.113.9"), ({}, "127.0.0.1")],
    indirect=["app_config"],
)
def test_behind_a_proxy_the_client_address_is_the_forwarded_one_only_when_trusted(app, practice, expected):
    from sqlalchemy import select

    from blueprints.extensions import db
    from models import AuditEvent

    make_staff(app, practice)
    client = app.test_client()
    token = csrf_token_from(client.get("/signin").get_data(as_text=True))
    client.post("/signin", data={"username": "alex", "password": "wrong password", "csrf_token": token},
                headers={"X-Forwarded-For": "203.0.113.9"})
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.client_ip)) == expected


def test_a_delay_earned_on_one_instance_holds_on_the_other(app, twin, practice):
    """The growing delays (services/throttle.py) count in the database, not in a process."""
    from models import utcnow
    from tests.support.app_settings import set_clock

    make_staff(app, practice)
    moment = utcnow()
    set_clock(app, moment)
    set_clock(twin, moment)
    for _ in range(5):
        assert sign_in(app.test_client(), password="wrong password").status_code == 422
    slowed = sign_in(twin.test_client())  # the right password
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "2"
    assert "Too many failed sign-ins for this username. Try again in 2 seconds." in slowed.get_data(as_text=True)
    for _ in range(6):
        assert register(app.test_client(), "ZZZZ-ZZZZ", "2018-05-17").status_code == 422
    slowed = register(twin.test_client(), "ZZZZ-ZZZZ", "2018-05-17")
    assert slowed.status_code == 429 and "Too many attempts. Try again in 2 seconds." in slowed.get_data(as_text=True)
