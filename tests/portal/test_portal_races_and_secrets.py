"""Races with real threads, no plaintext at rest or in logs, and timing of failures."""

from __future__ import annotations

import logging
import statistics
import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import PortalLink, RegistrationCredential, utcnow
from services.actor import Actor
from services.credentials.redemption import RedemptionFailed, Registrant, redeem_pin
from services.credentials.registration import SigningKeys
from tests.support.app_settings import set_clock
from tests.support.builders import make_patient
from tests.support.html_readers import csrf_token_from
from tests.support.portal import (
    PARENT_PASSWORD,
    issue_pin,
    link_from_mail,
    pins_for_every_failure_kind,
    portal_post,
    register,
)
from tests.support.staff_screens import issue


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


def test_ten_concurrent_redeems_of_one_pin_give_one_link_and_nine_refusals(app, staff_client, child, mailbox):
    pin = issue_pin(staff_client, child.id, mailbox)
    outcomes: list[str] = []
    barrier = threading.Barrier(10)

    def redeem(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                redeem_pin(
                    db.session, Actor(practice_id=None, client_ip=f"198.51.100.{n}"), pin_entry=pin, date_of_birth=date(2018, 5, 17),
                    registrant=Registrant(email=f"parent{n}@example.com", password=PARENT_PASSWORD),
                    keys=SigningKeys.from_config(app.config),
                )
                outcomes.append("linked")
            except RedemptionFailed:
                outcomes.append("refused")
            except Exception as error:  # reported by the assertion
                outcomes.append(f"error: {error!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=redeem, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["linked"] + ["refused"] * 9, outcomes
    with app.app_context():
        assert len(db.session.scalars(select(PortalLink)).all()) == 1


def test_no_pin_or_answer_in_the_database_or_the_logs_after_a_full_flow(app, client, staff_client, child, mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # the test SMTP server's own lines
    pin = issue_pin(staff_client, child.id, mailbox)
    register(app.test_client(), pin, "2018-05-18")  # a failure first
    assert register(client, pin, "2018-05-17").status_code == 303
    issue(staff_client, child.id, method="question", question="First pet?", answer="Captain Fluffernutter")
    path = link_from_mail(mailbox, "vq")
    path = path[path.index("/portal/register"):]
    portal_post(app.test_client(), path, email="x@example.com", password=PARENT_PASSWORD,
                date_of_birth="2018-05-17", answer="captain fluffernutter", accept_terms="y")
    secrets = [pin, pin.replace("-", ""), "Captain Fluffernutter", "captainfluffernutter", PARENT_PASSWORD]
    with app.app_context():
        dump = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                dump.append(" ".join(str(value) for value in row))
        everything = "\n".join(dump).lower()
    for secret in secrets:
        assert secret.lower() not in everything, f"{secret!r} is stored in plaintext"
        assert secret.lower() not in caplog.text.lower(), f"{secret!r} reached the logs"


@pytest.mark.slow
@pytest.mark.timing
def test_every_failure_kind_takes_the_same_time(app, staff_client, practice, mailbox):
    """40 tries of each failure kind through HTTP; their medians differ by under 20 ms. Each
    attempt costs one real scrypt verification (n=2**14, ~40 ms here): a path that skipped it,
    or verified twice, would stand out by more than the margin."""
    app.config.update(HASH_METHOD="scrypt:16384:8:1", PORTAL_RATE_LIMIT="100000/minute")
    kinds = ["wrong", "unknown", "expired", "used", "revoked", "locked", "wrong date of birth"]
    kids, pins = pins_for_every_failure_kind(app, staff_client, practice)
    entries = {kind: (pin, "2015-02-28") for kind, pin in pins.items()}
    client = app.test_client()
    token = csrf_token_from(client.get("/portal/register").get_data(as_text=True))
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    start, attempt = utcnow(), 0
    for round_number in range(40):
        if round_number % 4 == 0:
            with app.app_context():  # keep the wrong-date-of-birth PIN pending: it counts its failures
                db.session.execute(
                    RegistrationCredential.__table__.update()
                    .where(RegistrationCredential.patient_id == kids[5].id)
                    .values(failed_attempts=0)
                )
                db.session.commit()
        for kind in kinds:
            pin, dob = entries[kind]
            # Each attempt in a throttle window of its own: a slowed one is refused unchecked.
            set_clock(app, start + attempt * timedelta(minutes=16))
            attempt += 1
            started = time.perf_counter()
            response = client.post("/portal/register", data={
                "csrf_token": token, "email": "guess@example.com", "password": PARENT_PASSWORD,
                "date_of_birth": dob, "pin": pin, "accept_terms": "y"})
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == 422, kind
    medians = {kind: statistics.median(values) * 1000 for kind, values in timings.items()}
    print("median ms per failure kind:", {k: round(v, 1) for k, v in medians.items()})
    assert max(medians.values()) - min(medians.values()) < 20, medians
