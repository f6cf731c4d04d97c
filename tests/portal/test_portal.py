"""The parent side: registering with a PIN, a question link or the desk's token; siblings;
chart access; the life of a PIN (single use, expiry, lock) and one answer for every failure."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import PortalLink, PortalUser, RegistrationCredential, utcnow
from services.credentials.redemption import FAILURE_MESSAGE
from tests.support.app_settings import set_clock
from tests.support.builders import make_patient
from tests.support.html_readers import csrf_token_from
from tests.support.portal import (
    PARENT_PASSWORD,
    client_at,
    issue_pin,
    link_from_mail,
    pins_for_every_failure_kind,
    portal_post,
    register,
)
from tests.support.staff_screens import HX, issue


def says_failure(response) -> bool:
    return FAILURE_MESSAGE in html.unescape(response.get_data(as_text=True))


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


@pytest.fixture
def sibling(app, practice):
    return make_patient(app, practice, "Liam", "Carter", date(2020, 8, 9), guardian_email="dana.carter@example.com")


@pytest.fixture
def teen(app, practice):
    return make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14), guardian_email="maria.nunez@example.com")


def rows(app, model, *where):
    with app.app_context():
        result = db.session.scalars(select(model).where(*where)).all()
        db.session.expunge_all()
        return result


def test_a_parent_registers_with_the_mailed_pin_and_the_patient_becomes_registered(app, client, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox)
    response = register(client, pin, "2018-05-17", email="Dana.Carter@example.com")
    assert response.status_code == 303 and response.headers["Location"] == "/portal/"
    home = html.unescape(client.get("/portal/").get_data(as_text=True))
    assert ">Emma</span>" in home and "Carter" not in home.split("<h2>Your patients</h2>")[1].split("</ul>")[0]
    [user] = rows(app, PortalUser)
    assert user.email == "dana.carter@example.com" and user.password_hash and PARENT_PASSWORD not in user.password_hash
    [link] = rows(app, PortalLink)
    assert (link.patient_id, link.access_level, link.audience) == (child.id, "full", "guardian")
    [credential] = rows(app, RegistrationCredential)
    assert credential.used_at is not None and link.credential_id == credential.id
    registered = staff_client.get("/patients?status=registered", headers=HX).get_data(as_text=True)
    assert "Carter, Emma" in registered
    account = staff_client.get(f"/patients/{child.id}").get_data(as_text=True)
    assert "Portal status: <strong>Registered</strong>" in account and ">Used</span>" in account


def test_a_pin_works_once(app, client, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox)
    assert register(client, pin, "2018-05-17").status_code == 303
    other = app.test_client()
    again = register(other, pin, "2018-05-17", email="someone.else@example.com")
    assert again.status_code == 422 and says_failure(again)
    assert len(rows(app, PortalLink)) == 1


@pytest.mark.parametrize("typing", [str.lower, lambda p: p.replace("-", ""), lambda p: " ".join(p),
                                    lambda p: p.replace("0", "O").replace("1", "l")])
def test_pin_entry_is_loose_about_case_spaces_hyphens_and_lookalikes(app, client, staff_client, child, mailbox, typing):
    pin = issue_pin(staff_client, child.id, mailbox)
    assert register(client, typing(pin), "05/17/2018").status_code == 303


def test_a_minors_pin_registers_the_teenagers_own_account(app, client, staff_client, teen, mailbox):
    pin = issue_pin(staff_client, teen.id, mailbox, send_to="minor", email="sofia.n@example.com")
    assert register(client, pin, "2012-03-14", email="sofia.n@example.com").status_code == 303
    [link] = rows(app, PortalLink)
    assert link.audience == "minor"


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"password": "short-pass"}, "password", "at least 12 characters"),
        ({"password": "password1234!"}, "password", "too common"),
        ({"password": "PASSWORD12345"}, "password", "too common"),
        ({"accept_terms": ""}, "accept_terms", "Terms &amp; Conditions"),
        ({"email": "not-an-email"}, "email", "whole email address"),
        ({"date_of_birth": "31/31/2018"}, "date_of_birth", "MM/DD/YYYY"),
        ({"pin": ""}, "pin", "Enter the PIN"),
    ],
)
def test_form_problems_are_shown_beside_their_fields_and_spend_no_attempt(app, client, staff_client, child, mailbox, overrides, field, message):
    issued = issue_pin(staff_client, child.id, mailbox)
    overrides = dict(overrides)  # the parametrised dict is shared by both databases' runs
    response = register(client, overrides.pop("pin", issued), "2018-05-17", **overrides)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', body)
    assert error and message in error.group(1)
    [credential] = rows(app, RegistrationCredential)
    assert credential.failed_attempts == 0 and credential.used_at is None


def _failure_body(response) -> str:
    """The page as a person sees it, minus the per-session CSRF token (form field and header)."""
    body = re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", body)


def test_every_failure_kind_gets_the_same_status_and_text(app, staff_client, practice, mailbox):
    _, attempts = pins_for_every_failure_kind(app, staff_client, practice)
    bodies = {}
    start = utcnow()
    for n, (kind, pin) in enumerate(attempts.items()):
        # Seven failures with one date of birth would be slowed; each comes in a window of its own.
        set_clock(app, start + n * timedelta(minutes=16))
        response = register(app.test_client(), pin, "2015-02-28")
        assert response.status_code == 422, kind
        bodies[kind] = _failure_body(response)
        assert FAILURE_MESSAGE in html.unescape(bodies[kind]), kind
    assert len(set(bodies.values())) == 1, "failure pages differ"


def test_five_failures_lock_the_pin_and_staff_see_locked(app, client, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox)
    for _ in range(5):
        assert register(app.test_client(), pin, "2018-05-18").status_code == 422  # wrong birth date
    refused = register(client, pin, "2018-05-17")
    assert refused.status_code == 422 and says_failure(refused)
    account = staff_client.get(f"/patients/{child.id}").get_data(as_text=True)
    assert ">Locked</span>" in account and "Portal status: <strong>Unregistered</strong>" in account


def test_expiry_is_checked_at_its_edge(app, client, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox)
    [credential] = rows(app, RegistrationCredential)
    app.config["CLOCK"] = lambda: credential.expires_at + timedelta(seconds=1)
    late = register(client, pin, "2018-05-17")
    assert late.status_code == 422 and says_failure(late)
    app.config["CLOCK"] = lambda: credential.expires_at - timedelta(seconds=1)
    assert register(app.test_client(), pin, "2018-05-17").status_code == 303


def test_a_signed_in_parent_adds_a_sibling_with_its_pin(app, client, staff_client, child, sibling, mailbox):
    first = issue_pin(staff_client, child.id, mailbox)
    second = issue_pin(staff_client, sibling.id, mailbox)
    register(client, first, "2018-05-17")
    response = portal_post(client, "/portal/children/add", date_of_birth="2020-08-09", pin=second)
    assert response.status_code == 303
    home = client.get("/portal/").get_data(as_text=True)
    assert ">Emma</span>" in home and ">Liam</span>" in home
    assert len(rows(app, PortalUser)) == 1 and len(rows(app, PortalLink)) == 2


def test_adding_a_child_with_a_wrong_pin_gets_the_one_failure_answer(app, client, staff_client, child, sibling, mailbox):
    register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17")
    issue_pin(staff_client, sibling.id, mailbox)
    response = portal_post(client, "/portal/children/add", date_of_birth="2020-08-09", pin="ZZZZ-ZZZZ")
    assert response.status_code == 422 and says_failure(response)


def test_limited_access_sees_no_chart_and_the_server_refuses_it(app, client, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox, access="limited")
    register(client, pin, "2018-05-17")
    home = client.get("/portal/").get_data(as_text=True)
    assert "My Chart" not in home and "Limited: No Chart Access" in home
    assert client.get(f"/portal/patients/{child.id}/chart").status_code == 403


def test_full_access_sees_the_chart_and_nobody_sees_anothers(app, client, staff_client, child, sibling, mailbox):
    register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17")
    home = client.get("/portal/").get_data(as_text=True)
    assert ">My Chart for Emma</a>" in home
    chart = client.get(f"/portal/patients/{child.id}/chart")
    assert chart.status_code == 200 and "05/17/2018" in chart.get_data(as_text=True)
    assert client.get(f"/portal/patients/{sibling.id}/chart").status_code == 404


def test_sign_out_and_sign_in(app, client, staff_client, child, mailbox):
    register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17", email="dana@example.com")
    token = csrf_token_from(client.get("/portal/").get_data(as_text=True))
    signout = client.post("/portal/signout", data={"csrf_token": token})
    assert signout.status_code == 303 and client.get("/portal/").status_code == 302
    wrong = portal_post(client, "/portal/signin", email="dana@example.com", password="not the password")
    assert wrong.status_code == 422 and "not right" in wrong.get_data(as_text=True)
    right = portal_post(client, "/portal/signin", email="DANA@example.com", password=PARENT_PASSWORD)
    assert right.status_code == 303 and ">Emma</span>" in client.get("/portal/").get_data(as_text=True)


def test_an_existing_accounts_email_with_a_wrong_password_gets_the_one_failure_answer_and_keeps_the_pin(
    app, client, staff_client, child, sibling, mailbox
):
    register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17", email="dana@example.com")
    second = issue_pin(staff_client, sibling.id, mailbox)
    wrong_pin = register(app.test_client(), "ZZZZ-ZZZZ", "2020-08-09", email="dana@example.com")
    [credential] = rows(app, RegistrationCredential, RegistrationCredential.patient_id == sibling.id)
    counted_before = credential.failed_attempts  # whatever a wrong PIN counts (not this test's concern)
    for n in range(6):  # more than the five failures that lock a PIN (each from its own address: no delay)
        probe = register(client_at(app, f"198.51.100.{n}"), second, "2020-08-09", email="dana@example.com", password="another long passphrase 9")
        assert probe.status_code == 422 and says_failure(probe)
        assert "exists already" not in probe.get_data(as_text=True)
        assert _failure_body(probe) == _failure_body(wrong_pin), "the probe's answer differs from a wrong PIN's"
    [credential] = rows(app, RegistrationCredential, RegistrationCredential.patient_id == sibling.id)
    assert credential.failed_attempts == counted_before and credential.used_at is None
    assert register(app.test_client(), second, "2020-08-09", email="dana@example.com").status_code == 303
    assert len(rows(app, PortalUser)) == 1 and len(rows(app, PortalLink)) == 2


def test_verification_question_link_asks_the_question_and_registers(app, client, staff_client, child, mailbox):
    issue(staff_client, child.id, method="question", question="Name of the first pet?", answer="Mr Whiskers")
    link = link_from_mail(mailbox, "vq")
    path = link[link.index("/portal/register"):]
    page = html.unescape(client.get(path).get_data(as_text=True))
    assert "Name of the first pet?" in page and ">Answer</label>" in page and ">PIN</label>" not in page
    wrong = portal_post(client, path, email="dana@example.com", password=PARENT_PASSWORD,
                        date_of_birth="2018-05-17", answer="Rex", accept_terms="y")
    assert wrong.status_code == 422 and says_failure(wrong)
    right = portal_post(client, path, email="dana@example.com", password=PARENT_PASSWORD,
                        date_of_birth="2018-05-17", answer="  mr WHISKERS ", accept_terms="y")
    assert right.status_code == 303
    assert client.get(path).status_code == 410  # single use


def test_complete_log_in_token_stands_in_for_pin_and_birth_date_once(app, client, staff_client, child, mailbox):
    body = issue(staff_client, child.id, action="complete").get_data(as_text=True)
    desk_link = html.unescape(re.search(r'id="portal-link"[^>]*href="([^"]+)"', body).group(1))
    path = desk_link[desk_link.index("/portal/register"):]
    page = client.get(path).get_data(as_text=True)
    assert ">PIN</label>" not in page and "Patient date of birth" not in page
    done = portal_post(client, path, email="dana@example.com", password=PARENT_PASSWORD, accept_terms="y")
    assert done.status_code == 200 and "Emma" in done.get_data(as_text=True)
    assert client.get("/portal/").status_code == 302  # the desk computer is not left signed in
    assert client.get(path).status_code == 410  # one time


def test_complete_log_in_token_lasts_fifteen_minutes(app, client, staff_client, child, mailbox):
    import time as time_module

    body = issue(staff_client, child.id, action="complete").get_data(as_text=True)
    desk_link = html.unescape(re.search(r'id="portal-link"[^>]*href="([^"]+)"', body).group(1))
    path = desk_link[desk_link.index("/portal/register"):]
    real_time = time_module.time
    try:
        time_module.time = lambda: real_time() + 15 * 60 + 5  # itsdangerous reads time.time()
        assert client.get(path).status_code == 410
    finally:
        time_module.time = real_time
    assert client.get(path).status_code == 200


def test_a_failed_attempt_does_not_echo_the_pin_or_answer(app, client, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox)
    response = register(client, pin, "2018-05-18")
    assert response.status_code == 422 and pin not in response.get_data(as_text=True)


def test_the_desk_token_still_works_just_before_fifteen_minutes(app, client, staff_client, child, mailbox):
    import time as time_module

    body = issue(staff_client, child.id, action="complete").get_data(as_text=True)
    desk_link = html.unescape(re.search(r'id="portal-link"[^>]*href="([^"]+)"', body).group(1))
    path = desk_link[desk_link.index("/portal/register"):]
    real_time = time_module.time
    try:
        time_module.time = lambda: real_time() + 15 * 60 - 5
        assert client.get(path).status_code == 200
    finally:
        time_module.time = real_time


def test_adding_a_child_with_another_practices_pin_fails_and_counts_nothing_there(
    app, client, staff_client, child, other_practice, mailbox
):
    from tests.support.builders import make_staff
    from tests.support.html_readers import csrf_token_from as token_of
    from tests.support.staff_screens import sign_in

    register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17")
    stranger = make_patient(app, other_practice, "Noah", "Stone", date(2019, 1, 1))
    make_staff(app, other_practice, username="olive")
    other_staff = app.test_client()
    sign_in(other_staff, username="olive")
    other_staff.csrf_token = token_of(other_staff.get("/patients").get_data(as_text=True))
    their_pin = issue_pin(other_staff, stranger.id, send_by="none")
    response = portal_post(client, "/portal/children/add", date_of_birth="2019-01-01", pin=their_pin)
    assert response.status_code == 422 and says_failure(response)
    [theirs] = rows(app, RegistrationCredential, RegistrationCredential.patient_id == stranger.id)
    assert theirs.used_at is None and theirs.failed_attempts == 0
    assert len(rows(app, PortalLink)) == 1


def test_a_minors_pin_never_joins_a_parents_account(app, client, staff_client, child, teen, mailbox):
    register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17")
    teen_pin = issue_pin(staff_client, teen.id, mailbox, send_to="minor", email="sofia.n@example.com")
    response = portal_post(client, "/portal/children/add", date_of_birth="2012-03-14", pin=teen_pin)
    wrong = portal_post(client, "/portal/children/add", date_of_birth="2012-03-14", pin="ZZZZ-ZZZZ")
    # The same answer as a wrong PIN: a right PIN of the other kind is confirmed to nobody.
    assert response.status_code == 422 and says_failure(response)
    assert _failure_body(response) == _failure_body(wrong)
    [credential] = rows(app, RegistrationCredential, RegistrationCredential.patient_id == teen.id)
    assert credential.used_at is None  # still usable for the teenager's own account
    assert register(app.test_client(), teen_pin, "2012-03-14", email="sofia.n@example.com").status_code == 303


def test_a_new_pin_for_a_linked_patient_changes_the_access_it_carries(app, client, staff_client, child, mailbox):
    register(client, issue_pin(staff_client, child.id, mailbox, access="limited"), "2018-05-17")
    assert client.get(f"/portal/patients/{child.id}/chart").status_code == 403
    full = issue_pin(staff_client, child.id, mailbox)
    assert portal_post(client, "/portal/children/add", date_of_birth="2018-05-17", pin=full).status_code == 303
    [link] = rows(app, PortalLink)
    assert link.access_level == "full"
    assert client.get(f"/portal/patients/{child.id}/chart").status_code == 200


@pytest.mark.parametrize("dash", ["\u2010", "\u2013", "\u2212", "\u00a0"])
def test_pin_entry_accepts_the_dashes_and_spaces_phones_type(app, client, staff_client, child, mailbox, dash):
    pin = issue_pin(staff_client, child.id, mailbox)
    assert register(client, pin.replace("-", dash), "2018-05-17").status_code == 303


def test_registering_in_a_browser_where_staff_are_signed_in_does_not_sign_the_parent_in(app, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox)
    response = register(staff_client, pin, "2018-05-17")
    assert response.status_code == 200 and "Your account is ready" in response.get_data(as_text=True)
    assert staff_client.get("/portal/").status_code == 302
    assert staff_client.get("/patients").status_code == 200  # staff still signed in


class TestThePortalRoutesAreRateLimited:
    @pytest.fixture
    def app_config(self):
        return {"PORTAL_RATE_LIMIT": "3/minute"}

    def test_register_sign_in_and_add_child_share_one_budget(self, app, client):
        from tests.support.html_readers import csrf_token_from as token_of

        token = token_of(client.get("/portal/register").get_data(as_text=True))
        statuses = [
            client.post(url, data={"csrf_token": token}).status_code
            for url in ("/portal/register", "/portal/signin", "/portal/register", "/portal/signin")
        ]
        assert statuses[:3] == [422, 422, 422] and statuses[3] == 429
        assert client.get("/portal/register").status_code == 200  # reading the page is not limited


def test_redeeming_erases_a_welcome_message_still_waiting_to_be_sent(app, client, staff_client, child, mailbox):
    """The parent got the PIN on paper while the email waits for a retry: the waiting body,
    which holds the PIN, is erased at redemption rather than at the worker's next pass."""
    from models import WelcomeMessage
    from tests.support.mail import point_mail_at
    from tests.support.network import free_port

    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens: the inline attempt fails
    pin = issue_pin(staff_client, child.id, action="print")
    [message] = rows(app, WelcomeMessage)
    assert message.status == "queued" and message.body_encrypted is not None
    assert register(client, pin, "2018-05-17").status_code == 303
    [message] = rows(app, WelcomeMessage)
    assert message.body_encrypted is None and message.status == "failed"
