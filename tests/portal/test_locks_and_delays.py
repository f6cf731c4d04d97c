"""The lock rule (README: "A PIN's failures"): a failure counts against a PIN only when that PIN
matched and the date of birth did not; wrong PINs lock nothing, they are slowed by a growing
delay on the date of birth typed; each failure is audited in the practice it can be tied to."""

from __future__ import annotations

import csv
import html
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import AuditEvent, PortalLink, RegistrationCredential, utcnow
from services.credentials.redemption import FAILURE_MESSAGE
from tests.support.app_settings import set_clock
from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.portal import PARENT_PASSWORD, client_at, issue_pin, link_from_mail, portal_post, register
from tests.support.staff_screens import account_page, issue, sign_in

ATTACKED_BIRTH_DATE = date(2012, 3, 3)


def staff_of(app, practice, username: str):
    make_staff(app, practice, username)
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    return client


def credential_of(app, patient_id: int) -> RegistrationCredential:
    with app.app_context():
        row = db.session.scalar(select(RegistrationCredential).where(RegistrationCredential.patient_id == patient_id))
        db.session.expunge_all()
        return row


def audit_rows(app, *where) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(*where).order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return rows


def says(response, text: str) -> bool:
    return text in html.unescape(response.get_data(as_text=True))


def test_five_wrong_pins_on_one_birth_date_lock_no_family_in_any_practice(
    app, staff_client, practice, other_practice, mailbox
):
    """The attack of issue 12: five unknown PINs typed with one date of birth used to add a
    failure to every pending PIN of patients born that day, in every practice, and lock them."""
    ours = make_patient(app, practice, "Ava", "Lee", ATTACKED_BIRTH_DATE)
    theirs = make_patient(app, other_practice, "Ben", "Ray", ATTACKED_BIRTH_DATE)
    our_pin = issue_pin(staff_client, ours.id, send_by="none")
    other_staff = staff_of(app, other_practice, "olive")
    their_pin = issue_pin(other_staff, theirs.id, send_by="none")
    stranger = client_at(app, "203.0.113.9")
    for _ in range(5):
        attempt = register(stranger, "ZZZZZZZZ", ATTACKED_BIRTH_DATE.isoformat())
        assert attempt.status_code == 422 and says(attempt, FAILURE_MESSAGE)
    # Going on, the stranger is slowed; only the stranger (below: the parents are not).
    assert register(stranger, "ZZZZZZZZ", ATTACKED_BIRTH_DATE.isoformat()).status_code == 422  # the 6th starts a delay
    slowed = register(stranger, "ZZZZZZZZ", ATTACKED_BIRTH_DATE.isoformat())
    assert slowed.status_code == 429 and says(slowed, "Too many attempts. Try again in")
    assert credential_of(app, ours.id).failed_attempts == 0
    assert credential_of(app, theirs.id).failed_attempts == 0
    assert ">Active</span>" in account_page(staff_client, ours.id)
    assert ">Active</span>" in account_page(other_staff, theirs.id)
    # Audited, but tied to no practice (no PIN matched): neither practice's trail holds them.
    unmatched = audit_rows(app, AuditEvent.action == "failed redeem")
    assert [(e.practice_id, e.patient_id, e.detail) for e in unmatched] == [(None, None, "by pin: no match")] * 6 + [
        (None, None, "by pin: slowed")]
    # The real parents then register.
    assert register(app.test_client(), our_pin, "03/03/2012", email="ava.parent@example.com").status_code == 303
    assert register(app.test_client(), their_pin, "2012-03-03", email="ben.parent@example.com").status_code == 303
    with app.app_context():
        assert len(db.session.scalars(select(PortalLink)).all()) == 2


def test_five_wrong_birth_dates_with_the_right_pin_lock_it(app, staff_client, practice, mailbox):
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    pin = issue_pin(staff_client, child.id, mailbox)
    for n in range(5):
        wrong = register(app.test_client(), pin, f"2018-05-{18 + n}")  # five dates: no date is slowed
        assert wrong.status_code == 422 and says(wrong, FAILURE_MESSAGE)
    assert credential_of(app, child.id).failed_attempts == 5
    refused = register(app.test_client(), pin, "2018-05-17")
    assert refused.status_code == 422 and says(refused, FAILURE_MESSAGE)
    assert ">Locked</span>" in account_page(staff_client, child.id)
    details = [e.detail for e in audit_rows(app, AuditEvent.action == "failed redeem", AuditEvent.practice_id == practice.id)]
    assert details[:5] == [f"by pin: failure {n} of 5" for n in range(1, 5)] + ["by pin: failure 5 of 5; locked"]


def test_wrong_pins_on_one_birth_date_are_slowed_by_a_growing_delay_never_locked(app, staff_client, practice, mailbox):
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    pin = issue_pin(staff_client, child.id, mailbox)
    start = utcnow()
    set_clock(app, start)
    for _ in range(6):  # five are free; the sixth makes the date wait 2 seconds
        assert register(app.test_client(), "ZZZZ-ZZZZ", "2018-05-17").status_code == 422
    slowed = register(app.test_client(), pin, "2018-05-17")  # even the right PIN is not checked
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "2"
    assert says(slowed, "Too many attempts. Try again in 2 seconds.") and not says(slowed, FAILURE_MESSAGE)
    assert credential_of(app, child.id).used_at is None
    set_clock(app, start + timedelta(seconds=1))
    assert register(app.test_client(), pin, "2018-05-17").status_code == 429
    set_clock(app, start + timedelta(seconds=2))
    assert register(app.test_client(), "ZZZZ-ZZZZ", "2018-05-17").status_code == 422  # checked again, and counted
    grown = register(app.test_client(), pin, "2018-05-17")
    assert grown.status_code == 429 and says(grown, "Try again in 4 seconds.")
    # Another date of birth is not slowed by this one's failures.
    assert register(app.test_client(), "ZZZZ-ZZZZ", "2018-05-16").status_code == 422
    set_clock(app, start + timedelta(seconds=6))
    assert register(app.test_client(), pin, "2018-05-17").status_code == 303
    assert credential_of(app, child.id).used_at is not None
    refusals = audit_rows(app, AuditEvent.outcome == "refused")
    assert [(e.action, e.practice_id, e.detail) for e in refusals] == [("failed redeem", None, "by pin: slowed")] * 3


def test_the_delay_doubles_up_to_a_minute(app, practice):
    app.config["PORTAL_RATE_LIMIT"] = "100/minute"  # the per-client limit is not what this is about
    moment, waits = utcnow(), []
    while len(waits) < 7:
        set_clock(app, moment)
        attempt = register(app.test_client(), "ZZZZ-ZZZZ", "2018-05-17")
        if attempt.status_code == 429:  # wait exactly as told, then the next one is checked (and fails)
            waits.append(int(attempt.headers["Retry-After"]))
            moment += timedelta(seconds=waits[-1])
        else:
            assert attempt.status_code == 422
    assert waits == [2, 4, 8, 16, 32, 60, 60]


def test_a_pin_matched_with_a_wrong_birth_date_is_in_that_practices_audit_export(app, staff_client, practice, other_practice, mailbox):
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    pin = issue_pin(staff_client, child.id, mailbox)
    assert register(app.test_client(), pin, "2018-05-18").status_code == 422
    make_staff(app, practice, "morgan", admin=True)
    make_staff(app, other_practice, "riley", admin=True)
    today = date.today()
    span = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"

    def exported(username: str) -> list[dict]:
        admin = app.test_client()
        sign_in(admin, username)
        response = admin.get(f"/practice/audit.csv?{span}")
        assert response.status_code == 200
        return [row for row in csv.DictReader(io.StringIO(response.get_data(as_text=True))) if row["action"] == "failed redeem"]

    [row] = exported("morgan")
    assert (row["patient_id"], row["outcome"], row["detail"]) == (str(child.id), "failure", "by pin: failure 1 of 5")
    assert exported("riley") == []  # another practice never sees it
    history = account_page(staff_client, child.id)
    assert "A portal registration attempt failed (wrong PIN or date of birth; 1 of 5)" in history


def test_adding_a_child_with_a_wrong_pin_is_audited_in_the_parents_practice(app, client, staff_client, practice, mailbox):
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    sibling = make_patient(app, practice, "Liam", "Carter", date(2020, 8, 9))
    register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17")
    issue_pin(staff_client, sibling.id, mailbox)
    response = portal_post(client, "/portal/children/add", date_of_birth="2020-08-09", pin="ZZZZ-ZZZZ")
    assert response.status_code == 422 and says(response, FAILURE_MESSAGE)
    [failed] = audit_rows(app, AuditEvent.action == "failed redeem")
    assert (failed.practice_id, failed.patient_id, failed.detail) == (practice.id, None, "by add child: no match")
    assert credential_of(app, sibling.id).failed_attempts == 0


@pytest.mark.parametrize("wrong", [{"answer": "Rex"}, {"date_of_birth": "2018-05-18"}])
def test_five_failures_through_a_question_link_lock_that_question(app, staff_client, practice, mailbox, wrong):
    """A question's link names its credential as a matched PIN does; its answer is guessable, so
    every failure through the link counts against it and five lock it."""
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    issue(staff_client, child.id, method="question", question="Name of the first pet?", answer="Mr Whiskers")
    link = link_from_mail(mailbox, "vq")
    path = link[link.index("/portal/register"):]
    fields = {"email": "dana@example.com", "password": PARENT_PASSWORD, "date_of_birth": "2018-05-17",
              "answer": "Mr Whiskers", "accept_terms": "y"}
    for _ in range(5):
        failed = portal_post(app.test_client(), path, **{**fields, **wrong})
        assert failed.status_code == 422 and says(failed, FAILURE_MESSAGE)
    assert credential_of(app, child.id).failed_attempts == 5
    assert app.test_client().get(path).status_code == 410  # locked: the link is dead
    details = [e.detail for e in audit_rows(app, AuditEvent.action == "failed redeem", AuditEvent.patient_id == child.id,
                                           AuditEvent.practice_id == practice.id)]
    assert details[-1] == "by question: failure 5 of 5; locked"
