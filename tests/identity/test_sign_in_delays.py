"""Failed staff sign-ins: audited in every practice of a known username (an unknown one with no
practice and without what was typed), and slowed per username by a growing delay, known or not,
that a successful sign-in clears. A delay, never a lock."""

from __future__ import annotations

import csv
import html
import io
import logging
import re
import threading
from datetime import date, timedelta

from sqlalchemy import select

from blueprints.extensions import db
from models import AuditEvent, Throttle, utcnow
from models.vocabulary import ThrottleScope
from services import throttle
from tests.support.app_settings import MovableClock, set_clock
from tests.support.builders import make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.portal import client_at
from tests.support.staff_screens import sign_in

WRONG = "not-the-password"
SLOWED = re.compile(r"Too many failed sign-ins for this username\. Try again in (\d+) seconds?\.")


def audit_rows(app, *where) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(*where).order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return rows


def slowed_for(response) -> int:
    """Asserts the plain refusal of a slowed username (429, Retry-After); returns the seconds."""
    assert response.status_code == 429
    match = SLOWED.search(html.unescape(response.get_data(as_text=True)))
    assert match, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == match.group(1)
    return int(match.group(1))


def test_a_failed_sign_in_of_a_known_username_is_in_each_of_its_practices_audit(app, client, practice, other_practice):
    make_staff(app, practice, "alex")
    make_staff(app, other_practice, "alex")  # one login, two practices
    assert sign_in(client, password=WRONG).status_code == 422
    failed = audit_rows(app, AuditEvent.action == "sign-in", AuditEvent.outcome == "failure")
    assert sorted((e.practice_id, e.staff_username, e.detail) for e in failed) == sorted(
        [(practice.id, "alex", "password"), (other_practice.id, "alex", "password")]
    )
    # And the practice's admin finds it in the export.
    make_staff(app, other_practice, "riley", admin=True)
    admin = app.test_client()
    sign_in(admin, "riley")
    today = date.today()
    export = admin.get(f"/practice/audit.csv?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}")
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert ("alex", "sign-in", "failure", "password") in [(r["staff"], r["action"], r["outcome"], r["detail"]) for r in rows]


def test_an_unknown_username_is_audited_with_no_practice_and_never_written_down(app, client, practice, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    make_staff(app, practice, "alex")
    typed = "Emma Carter 2018-05-17"  # what a person might type in the wrong box
    assert sign_in(client, username=typed, password=WRONG).status_code == 422
    [failed] = audit_rows(app, AuditEvent.action == "sign-in")
    assert (failed.practice_id, failed.staff_id, failed.staff_username, failed.outcome) == (None, None, None, "failure")
    with app.app_context():
        dump = " ".join(str(v) for table in db.metadata.sorted_tables for row in db.session.execute(select(table)) for v in row)
    assert typed.casefold() not in dump.casefold() and typed.casefold() not in caplog.text.casefold()


def test_repeated_failures_slow_the_username_even_for_the_right_password_until_the_delay_passes(app, practice):
    make_staff(app, practice, "alex")
    start = utcnow()
    set_clock(app, start)
    for _ in range(5):  # four are free; the fifth makes the username wait 2 seconds
        assert sign_in(app.test_client(), password=WRONG).status_code == 422
    desk = app.test_client()
    assert slowed_for(sign_in(desk)) == 2  # the right password, not even checked
    assert desk.get("/patients").status_code == 302  # not signed in
    refused = audit_rows(app, AuditEvent.outcome == "refused")
    assert [(e.practice_id, e.staff_username, e.detail) for e in refused] == [(practice.id, "alex", "slowed")]
    set_clock(app, start + timedelta(seconds=1))
    assert slowed_for(sign_in(desk)) == 1
    set_clock(app, start + timedelta(seconds=2))
    assert sign_in(desk).status_code == 302  # the right password works again
    assert desk.get("/patients").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Throttle)).all() == []  # and the success forgot the failures


def test_the_delay_grows_and_another_username_is_not_slowed(app, practice):
    make_staff(app, practice, "alex")
    make_staff(app, practice, "blake")
    start = utcnow()
    set_clock(app, start)
    for _ in range(5):
        sign_in(app.test_client(), password=WRONG)
    set_clock(app, start + timedelta(seconds=2))
    assert sign_in(app.test_client(), username="  ALEX ", password=WRONG).status_code == 422  # one username, however typed
    assert slowed_for(sign_in(app.test_client())) == 4
    assert sign_in(app.test_client(), username="blake").status_code == 302


def test_an_unknown_username_is_slowed_the_same_way(app, practice):
    app.config["SIGNIN_RATE_LIMIT"] = "100/minute"  # twelve POSTs from one address: the per-client limit stays out
    make_staff(app, practice, "alex")
    set_clock(app, utcnow())
    for name in ("alex", "nobody"):
        for _ in range(5):
            assert sign_in(app.test_client(), username=name, password=WRONG).status_code == 422
    known, unknown = sign_in(app.test_client(), username="alex"), sign_in(app.test_client(), username="nobody")
    assert slowed_for(known) == slowed_for(unknown) == 2

    def page(response) -> str:
        text = re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))
        return re.sub(r'"X-CSRFToken": "[^"]*"', "", text).replace('value="alex"', "").replace('value="nobody"', "")

    assert page(known) == page(unknown)


def test_a_stranger_typing_the_username_never_slows_a_browser_that_signed_in_as_it_before(app, practice):
    """The delay is per username for browsers it has never seen, but the front desk's own PC,
    which has signed in as this username before, counts apart: renewing the delay from elsewhere
    for as long as one likes never keeps the front desk out (a delay, never a lock)."""
    app.config["SIGNIN_RATE_LIMIT"] = "1000/minute"  # the per-client limit stays out of this
    make_staff(app, practice, "alex")
    clock = MovableClock(app, utcnow())
    desk = app.test_client()
    assert sign_in(desk).status_code == 302
    desk.post("/signout", data={"csrf_token": csrf_token_from(desk.get("/patients").get_data(as_text=True))})
    stranger = client_at(app, "203.0.113.9")
    for _ in range(60):  # an hour of a stranger failing each time the delay has passed
        clock.advance(seconds=61)
        assert sign_in(stranger, password=WRONG).status_code == 422
    assert slowed_for(sign_in(app.test_client(), password=WRONG)) >= 2  # a new browser is slowed (the stranger's doing)
    assert sign_in(desk).status_code == 302 and desk.get("/patients").status_code == 200  # the desk is not


def test_attempts_arriving_together_get_through_one_at_a_time(app, practice):
    """Every attempt is counted before it is checked: past the free ones, of several attempts
    at once only one is checked; the others are told to wait (no check-then-count gap)."""
    now = utcnow()
    secret = b"k" * 32
    with app.app_context():
        for _ in range(5):  # four free; the fifth makes the key wait 2 s
            assert throttle.attempt(db.session, secret, ThrottleScope.STAFF_USERNAME, "alex", now) == 0
    later = now + timedelta(seconds=3)
    waits: list[int] = []
    barrier = threading.Barrier(8)

    def one():
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                waits.append(throttle.attempt(db.session, secret, ThrottleScope.STAFF_USERNAME, "alex", later))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(waits) == 8 and sorted(waits)[:2] == [0, 4], waits  # one checked, seven told to wait 4 s
