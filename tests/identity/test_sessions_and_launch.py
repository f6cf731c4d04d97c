"""Staff identity: server-side sessions with idle and absolute limits (a controlled
clock), polling that is not activity, sign-out that kills a copied cookie, and the embedded
launch by token: every bad token case is a plain 403 and an audit row."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from blueprints.access import STAFF_SESSION_KEY
from blueprints.extensions import db
from models import AuditEvent, StaffSession
from tests.support.builders import make_patient, make_practice, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.launch import LAUNCH_SECRET, claims, launch_token
from tests.support.staff_screens import sign_in

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
POLL = {"HX-Request": "true", "X-Automatic-Refresh": "true"}


class Clock:
    def __init__(self, app, moment=T0):
        self.moment = moment
        app.config["CLOCK"] = lambda: self.moment

    def advance(self, **delta):
        self.moment += timedelta(**delta)


@pytest.fixture
def app_config():
    return {"LAUNCH_SECRET": LAUNCH_SECRET}


@pytest.fixture
def clock(app):
    return Clock(app)


def audit_rows(app, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def sessions(app) -> list[StaffSession]:
    with app.app_context():
        rows = db.session.scalars(select(StaffSession).order_by(StaffSession.id)).all()
        db.session.expunge_all()
        return rows


def is_signed_in(client) -> bool:
    response = client.get("/patients")
    return response.status_code == 200


def signed_in_client(app, username="alex"):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


# --- sessions -------------------------------------------------------------------------------


def test_the_cookie_carries_a_token_whose_hash_alone_is_stored(app, practice):
    make_staff(app, practice)
    client = signed_in_client(app)
    [row] = sessions(app)
    assert row.via == "signin" and row.practice_id == practice.id and row.ended_at is None
    # The cookie is signed (and compressed) by Flask: read it as the app does, to get the token itself.
    cookie = app.session_interface.get_signing_serializer(app).loads(client.get_cookie("session").value)
    token = cookie[STAFF_SESSION_KEY]
    assert len(token) >= 32
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    with app.app_context():  # no column of any session row holds the token itself
        stored = [str(value) for value in db.session.execute(select(StaffSession.__table__)).one()]
    assert not [value for value in stored if token in value]


def test_sign_out_ends_the_session_on_the_server_and_a_copied_cookie_is_dead(app, practice):
    make_staff(app, practice)
    client = signed_in_client(app)
    stolen = client.get_cookie("session").value
    token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    [row] = sessions(app)
    assert row.ended_at is not None and row.end_reason == "signed out"

    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/patients")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")


def test_idle_timeout_with_a_controlled_clock(app, practice, clock):
    make_staff(app, practice)
    client = signed_in_client(app)
    clock.advance(minutes=14, seconds=50)
    assert is_signed_in(client)  # activity: the idle clock starts again
    clock.advance(minutes=14, seconds=50)
    assert is_signed_in(client)
    clock.advance(minutes=15)
    response = client.get("/patients")
    assert response.status_code == 302 and "ended=1" in response.headers["Location"]
    assert "Your session ended" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert sessions(app)[0].end_reason == "idle"
    clock.advance(seconds=1)
    assert not is_signed_in(client)  # and it stays ended


def test_absolute_limit_ends_even_a_busy_session(app, practice, clock):
    make_staff(app, practice)
    client = signed_in_client(app)
    for _ in range(7 * 6 + 5):  # every 10 minutes for 7 h 50 min
        clock.advance(minutes=10)
        assert is_signed_in(client)
    clock.advance(minutes=10)  # 8 h 00 min after sign-in
    assert not is_signed_in(client)
    assert sessions(app)[0].end_reason == "too old"


def test_polling_is_not_activity_and_an_ended_session_stops_it(app, practice, clock):
    make_staff(app, practice)
    patient = make_patient(app, practice)
    client = signed_in_client(app)
    for _ in range(14):  # a delivery region refreshing itself for 14 minutes
        clock.advance(minutes=1)
        assert client.get(f"/patients/{patient.id}", headers=POLL).status_code == 200
    clock.advance(minutes=1, seconds=1)
    polled = client.get(f"/patients/{patient.id}", headers=POLL)
    # 286 is htmx's "stop polling"; HX-Redirect takes the page (and the PHI on it) away.
    assert polled.status_code == 286 and polled.headers["HX-Redirect"].startswith("/signin")
    assert polled.get_data(as_text=True) == ""
    assert sessions(app)[0].end_reason == "idle"
    assert not [row for row in audit_rows(app, "view account")]  # refreshing is not a new look


def test_an_htmx_request_after_expiry_redirects_the_whole_page(app, practice, clock):
    make_staff(app, practice)
    client = signed_in_client(app)
    clock.advance(minutes=16)
    response = client.get("/patients?last=car", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/signin")


def test_a_deactivated_staff_member_is_out_at_the_next_request(app, practice):
    from models import StaffUser

    make_staff(app, practice)
    client = signed_in_client(app)
    with app.app_context():
        db.session.scalar(select(StaffUser)).is_active = False
        db.session.commit()
    assert not is_signed_in(client)


def test_a_staff_member_removed_from_the_practice_is_out_at_the_next_request(app, practice):
    from models import StaffMembership

    make_staff(app, practice)
    client = signed_in_client(app)
    with app.app_context():
        db.session.delete(db.session.scalar(select(StaffMembership)))
        db.session.commit()
    assert not is_signed_in(client)


def test_choosing_a_practice_one_does_not_belong_to_is_404(app, practice, other_practice):
    third = make_practice(app, "Aspen Kids")
    make_staff(app, practice)
    make_staff(app, other_practice)
    client = signed_in_client(app)
    token = csrf_token_from(client.get("/practice/choose").get_data(as_text=True))
    assert client.post("/practice/choose", data={"practice_id": third.id, "csrf_token": token}).status_code == 404
    assert client.get("/patients").status_code == 302  # still choosing


# --- launch -----------------------------------------------------------------------------------


def test_a_valid_launch_starts_a_session_and_lands_on_patient_administration(app, practice):
    make_staff(app, practice)
    client = app.test_client()
    response = client.get("/launch?token=" + launch_token(claims()))
    assert response.status_code == 302 and response.headers["Location"] == "/patients"
    page = client.get("/patients")
    assert page.status_code == 200 and "Search Patients" in page.get_data(as_text=True)
    [row] = sessions(app)
    assert row.via == "launch" and row.practice_id == practice.id
    [event] = audit_rows(app, "launch")
    assert event.outcome == "success" and event.staff_username == "alex" and event.practice_id == practice.id


BAD_TOKENS = {
    "replayed": None,  # built in the test: the same token twice
    "expired": None,
    "bad signature": lambda: launch_token(claims(), secret="not-the-shared-secret"),
    "another salt": lambda: launch_token(claims(), salt="not-launch"),
    "garbage": lambda: "not-a-token",
    "missing": lambda: "",
    "short jti": lambda: launch_token(claims(jti="short")),
    "no jti": lambda: launch_token({"staff": "alex", "practice": "Cedar Pediatrics"}),
    "not a member": lambda: launch_token(claims(practice="Birch Family Medicine")),
    "unknown staff": lambda: launch_token(claims(staff="mallory")),
    "not a dict": lambda: launch_token(["alex", "Cedar Pediatrics"]),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_every_bad_launch_token_is_a_plain_403_and_an_audit_row(app, practice, other_practice, clock, case):
    make_staff(app, practice)
    client = app.test_client()
    if case == "replayed":
        token = launch_token(claims())
        assert client.get("/launch?token=" + token).status_code == 302
        client = app.test_client()  # another browser replays it
    elif case == "expired":
        # itsdangerous reads the real clock: a token minted 61 seconds ago.
        import itsdangerous.timed as timed

        real = timed.time.time
        timed.time.time = lambda: real() - 61
        try:
            token = launch_token(claims())
        finally:
            timed.time.time = real
    else:
        token = BAD_TOKENS[case]()
    before = len(sessions(app))
    response = client.get("/launch?token=" + token if token else "/launch")
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in body and "Open the panel again" in body
    assert "signature" not in body.lower() and "jti" not in body  # the page does not say why
    assert len(sessions(app)) == before  # no session started
    assert client.get("/patients").status_code == 302
    refused = [event for event in audit_rows(app, "launch") if event.outcome == "refused"]
    assert len(refused) == 1 and refused[0].detail
    expected = {
        "replayed": "replayed token", "expired": "expired token", "bad signature": "bad signature",
        "another salt": "bad signature", "garbage": "bad signature", "missing": "no token",
        "short jti": "malformed token", "no jti": "malformed token", "not a member": "not a member",
        "unknown staff": "not a member", "not a dict": "malformed token",
    }[case]
    assert refused[0].detail == expected


def test_a_refused_launch_leaves_an_existing_session_alone(app, practice):
    make_staff(app, practice)
    client = signed_in_client(app)
    assert client.get("/launch?token=forged").status_code == 403
    assert is_signed_in(client)


def test_launch_without_a_configured_secret_is_refused(app, practice):
    app.config["LAUNCH_SECRET"] = None
    make_staff(app, practice)
    response = app.test_client().get("/launch?token=" + launch_token(claims()))
    assert response.status_code == 403
    assert audit_rows(app, "launch")[0].detail == "launch not configured"


def test_two_launches_with_one_jti_at_once_start_one_session(app, practice):
    """The spent-jti table's primary key decides, on either database."""
    import threading

    make_staff(app, practice)
    token = launch_token(claims())
    statuses = []
    barrier = threading.Barrier(4)

    def go():
        client = app.test_client()
        barrier.wait()
        statuses.append(client.get("/launch?token=" + token).status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [302, 403, 403, 403]
    assert len(sessions(app)) == 1


def test_a_full_page_with_the_refresh_header_still_counts_and_is_audited(app, practice, clock):
    """Only an htmx fragment can be an automatic refresh; a crafted header on a page is ignored."""
    make_staff(app, practice)
    patient = make_patient(app, practice)
    client = signed_in_client(app)
    page = client.get(f"/patients/{patient.id}", headers={"X-Automatic-Refresh": "true"})
    assert page.status_code == 200 and "<h1>" in page.get_data(as_text=True)
    assert [e.patient_id for e in audit_rows(app, "view account")] == [patient.id]


def test_signing_in_again_ends_the_previous_session_on_the_server(app, practice):
    make_staff(app, practice)
    client = signed_in_client(app)
    old_cookie = client.get_cookie("session").value
    assert sign_in(client).status_code == 302
    first, second = sessions(app)
    assert first.end_reason == "replaced" and second.ended_at is None
    copy = app.test_client()
    copy.set_cookie("session", old_cookie)
    assert not is_signed_in(copy)


def test_launch_is_rate_limited_per_client(app, practice):
    app.config["SIGNIN_RATE_LIMIT"] = "3/minute"
    client = app.test_client()
    statuses = [client.get("/launch?token=forged").status_code for _ in range(4)]
    assert statuses == [403, 403, 403, 429]
    assert len(audit_rows(app, "launch")) == 3  # the refused flood stops writing rows
