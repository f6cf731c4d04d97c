"""Forgot password?: one answer whatever the email, a single-use link valid 30 minutes mailed
(through `outbox send` and the real loopback SMTP server) only to an account's address, stored
as a hash with its email encrypted, ending the account's sessions and other links when used."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import date

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import AuditEvent, DevMailboxMessage, PasswordReset, PortalSession, utcnow
from services.identity.portal_accounts import create_portal_user
from tests.support.app_settings import PORTAL_URL, MovableClock
from tests.support.builders import make_patient
from tests.support.html_readers import csrf_token_from
from tests.support.mail import outbox_send, point_mail_at, text_of
from tests.support.portal import PARENT_PASSWORD, issue_pin, portal_post, register

NEW_PASSWORD = "harbor kettle orchard 77"
# The link names the account's practice, as every link in a message does.
LINK = re.compile(r"(https?://\S+/portal/reset-password\?practice=[a-z0-9-]+&token=(\S+))")


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


@pytest.fixture
def parent(app, staff_client, child, mailbox):
    """A registered parent's browser (signed in), with the welcome message gone from the mailbox."""
    client = app.test_client()
    assert register(client, issue_pin(staff_client, child.id, mailbox), "2018-05-17", email="dana@example.com").status_code == 303
    mailbox.clear()
    return client


def page_text(response) -> str:
    """The page as a person sees it, minus the per-session CSRF token."""
    body = re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", body)


def ask_for_link(app, email: str, **headers):
    client = app.test_client()
    token = csrf_token_from(client.get("/portal/forgot-password", headers=headers).get_data(as_text=True))
    response = client.post("/portal/forgot-password", data={"csrf_token": token, "email": email}, headers=headers)
    assert response.status_code == 200, response.status_code
    return response


def mailed_links(mailbox) -> list[str]:
    return [match.group(1) for message in mailbox.messages for match in [LINK.search(text_of(message))] if match]


def local(link: str) -> str:
    return link.removeprefix(PORTAL_URL.removesuffix("/portal/register"))


def reset_with(client, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    """POST the reset form (the CSRF token from another page: a dead link's page has no form)."""
    token = csrf_token_from(client.get("/portal/forgot-password").get_data(as_text=True))
    return client.post(local(link), data={"csrf_token": token, "password": password, "confirm": confirm or password})


def signs_in(app, password: str, email: str = "dana@example.com") -> bool:
    response = portal_post(app.test_client(), "/portal/signin", email=email, password=password)
    return response.status_code == 303


def test_sign_in_and_register_pages_offer_forgot_password(client):
    for url in ("/portal/signin", "/portal/register"):
        assert re.search(r'<a href="/portal/forgot-password">Forgot password\?</a>', client.get(url).get_data(as_text=True)), url
    page = client.get("/portal/forgot-password").get_data(as_text=True)
    assert '<label for="email">Email</label>' in page and ">Send reset link</button>" in page


def test_an_existing_and_an_unknown_email_get_the_same_page_and_only_the_account_gets_mail(app, parent, mailbox):
    known = ask_for_link(app, "Dana@example.com")
    unknown = ask_for_link(app, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert page_text(known) == page_text(unknown) and "Check your email" in page_text(known)
    assert mailbox.messages == [], "nothing is sent from the request itself"
    assert "password reset links sent: 1" in outbox_send(app)
    [message] = mailbox.messages
    assert message["X-Envelope-To"] == "dana@example.com"
    assert "Cedar Pediatrics" in message["Subject"] and "30 minutes" in text_of(message)
    [link] = mailed_links(mailbox)
    assert link.startswith(PORTAL_URL.removesuffix("register") + "reset-password?practice=cedar-pediatrics&token=")
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "password reset request")).all()
        assert sorted((e.practice_id or 0, e.outcome) for e in events) == [(0, "failure"), (parent_practice(app), "success")]


def parent_practice(app) -> int:
    with app.app_context():
        return db.session.scalar(select(PasswordReset)).portal_user.practice_id


def test_the_link_is_stored_as_a_hash_and_its_email_encrypted_and_never_logged(app, parent, mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    ask_for_link(app, "dana@example.com")
    with app.app_context():
        [row] = db.session.scalars(select(PasswordReset)).all()
        waiting = bytes(row.body_encrypted)
    outbox_send(app)
    [link] = mailed_links(mailbox)
    token = LINK.search(link).group(2)
    with app.app_context():
        [row] = db.session.scalars(select(PasswordReset)).all()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.body_encrypted is None and row.sent_at is not None  # erased once sent
        assert (row.expires_at - row.created_at).total_seconds() == 30 * 60
    assert token.encode() not in waiting and b"reset-password" not in waiting
    assert token not in caplog.text and "reset-password?token" not in caplog.text


def test_a_refused_link_logs_the_outcome_and_code_never_the_servers_reply_or_the_address(
    app, parent, refusing_server, caplog
):
    """The refusal quotes the recipient (tests/support/mail.py RefusingHandler, like Postfix): the
    log says what happened to which link, and nothing that ties the email to the account."""
    caplog.set_level(logging.DEBUG)
    ask_for_link(app, "dana@example.com")
    point_mail_at(app, MAIL_PORT=refusing_server)
    assert "password reset links not sent: 1" in outbox_send(app)
    [line] = [record.getMessage() for record in caplog.records if "password reset link" in record.getMessage()]
    assert line.endswith("not sent: permanent failure (SMTP 550)"), line
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "dana@example.com" not in logged and "Mailbox unavailable" not in logged


def test_the_link_resets_the_password_once_and_ends_the_old_sessions(app, parent, child, mailbox):
    still_open = app.test_client()
    assert portal_post(still_open, "/portal/signin", email="dana@example.com", password=PARENT_PASSWORD).status_code == 303
    ask_for_link(app, "dana@example.com")
    outbox_send(app)
    [link] = mailed_links(mailbox)
    stranger = app.test_client()
    assert "Choose a new password" in stranger.get(local(link)).get_data(as_text=True)
    done = reset_with(stranger, link)
    assert done.status_code == 303 and done.headers["Location"] == "/portal/signin?reset=1&practice=cedar-pediatrics"
    for browser in (parent, still_open):
        response = browser.get(f"/portal/patients/{child.id}/chart")
        assert response.status_code == 302 and response.headers["Location"].startswith("/portal/signin")
    with app.app_context():
        ended = db.session.scalars(select(PortalSession.end_reason)).all()
        assert ended and set(ended) == {"password reset"}
    assert not signs_in(app, PARENT_PASSWORD) and signs_in(app, NEW_PASSWORD)
    again = reset_with(app.test_client(), link, password="another fine passphrase 5")
    assert again.status_code == 410 and "no longer valid" in again.get_data(as_text=True)
    assert signs_in(app, NEW_PASSWORD)


def test_a_csrf_token_read_before_the_reset_does_not_sign_the_next_forms(app, parent, mailbox):
    ask_for_link(app, "dana@example.com")
    outbox_send(app)
    [link] = mailed_links(mailbox)
    client = app.test_client()
    before = csrf_token_from(client.get(local(link)).get_data(as_text=True))
    response = client.post(local(link), data={"csrf_token": before, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/portal/signin?reset=1&practice=cedar-pediatrics"
    stale = client.post("/portal/signin", data={"csrf_token": before, "email": "dana@example.com", "password": NEW_PASSWORD})
    assert stale.status_code == 400 and "The form has expired" in stale.get_data(as_text=True)
    after = csrf_token_from(client.get("/portal/signin?reset=1").get_data(as_text=True))
    assert after != before
    assert client.post("/portal/signin", data={"csrf_token": after, "email": "dana@example.com", "password": NEW_PASSWORD}).status_code == 303


def test_the_link_expires_after_thirty_minutes(app, parent, mailbox):
    clock = MovableClock(app, utcnow().replace(microsecond=0))
    ask_for_link(app, "dana@example.com")
    outbox_send(app)
    [link] = mailed_links(mailbox)
    clock.advance(minutes=29, seconds=59)
    assert app.test_client().get(local(link)).status_code == 200
    clock.advance(seconds=1)
    assert app.test_client().get(local(link)).status_code == 410
    assert reset_with(app.test_client(), link).status_code == 410
    assert signs_in(app, PARENT_PASSWORD)


def test_a_link_not_sent_before_it_expired_is_never_sent(app, parent, mailbox):
    clock = MovableClock(app, utcnow().replace(microsecond=0))
    ask_for_link(app, "dana@example.com")
    clock.advance(minutes=30)
    outbox_send(app)
    assert mailbox.messages == []
    with app.app_context():
        assert db.session.scalar(select(PasswordReset)).body_encrypted is None


def test_a_successful_reset_ends_the_accounts_other_links(app, parent, mailbox):
    ask_for_link(app, "dana@example.com")
    ask_for_link(app, "dana@example.com")
    outbox_send(app)
    first, second = mailed_links(mailbox)
    assert reset_with(app.test_client(), second).status_code == 303
    assert app.test_client().get(local(first)).status_code == 410
    with app.app_context():
        assert sorted((r.used_at is not None, r.revoked_at is not None) for r in db.session.scalars(select(PasswordReset))) == [
            (False, True), (True, False)]


def test_the_new_password_must_pass_the_password_rules(app, parent, mailbox):
    ask_for_link(app, "dana@example.com")
    outbox_send(app)
    [link] = mailed_links(mailbox)
    weak = reset_with(app.test_client(), link, password="password1234")
    assert weak.status_code == 422 and "too common" in weak.get_data(as_text=True)
    mismatch = reset_with(app.test_client(), link, confirm="harbor kettle orchard 78")
    assert mismatch.status_code == 422 and "not the same" in mismatch.get_data(as_text=True)
    assert signs_in(app, PARENT_PASSWORD)
    assert reset_with(app.test_client(), link).status_code == 303  # the link survived the refusals


def test_the_reset_page_is_csrf_protected(app, parent, mailbox):
    ask_for_link(app, "dana@example.com")
    outbox_send(app)
    [link] = mailed_links(mailbox)
    client = app.test_client()
    client.get(local(link))
    forged = client.post(local(link), data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert forged.status_code == 400
    assert signs_in(app, PARENT_PASSWORD) and not signs_in(app, NEW_PASSWORD)
    asked = app.test_client().post("/portal/forgot-password", data={"email": "dana@example.com"})
    assert asked.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(PasswordReset.id).where(PasswordReset.used_at.is_not(None))) is None


def test_the_link_points_at_the_configured_portal_never_at_the_requests_host(app, parent, mailbox):
    ask_for_link(app, "dana@example.com", Host="attacker.example")
    outbox_send(app)
    [link] = mailed_links(mailbox)
    assert "attacker.example" not in link and link.startswith("http://portal.example.test/portal/reset-password?practice=cedar-pediatrics&token=")


def test_an_email_with_accounts_at_two_practices_gets_one_link_per_practice(app, parent, other_practice, mailbox):
    with app.app_context():
        create_portal_user(db.session, other_practice.id, "dana@example.com", "birch account passphrase 3", "scrypt:1024:8:1")
        db.session.commit()
    ask_for_link(app, "dana@example.com")
    outbox_send(app)
    assert sorted(message["Subject"].rsplit(" at ", 1)[1] for message in mailbox.messages) == [
        "Birch Family Medicine", "Cedar Pediatrics"]
    birch = next(m for m in mailbox.messages if "Birch" in m["Subject"])
    assert reset_with(app.test_client(), LINK.search(text_of(birch)).group(1)).status_code == 303
    assert signs_in(app, PARENT_PASSWORD)  # the Cedar account keeps its password
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "password reset")).all()
        assert [(e.practice_id, e.outcome) for e in events] == [(other_practice.id, "success")]


class TestRateLimit:
    @pytest.fixture
    def app_config(self):
        return {"PORTAL_RATE_LIMIT": "3/minute"}

    def test_asking_for_links_draws_on_the_portal_budget(self, app, parent, mailbox):
        client = app.test_client()
        token = csrf_token_from(client.get("/portal/forgot-password").get_data(as_text=True))
        answers = [client.post("/portal/forgot-password", data={"csrf_token": token, "email": "dana@example.com"}).status_code
                   for _ in range(5)]
        assert answers[:2] == [200, 200] and answers[-1] == 429  # the parent's registration spent one
        with app.app_context():
            assert len(db.session.scalars(select(PasswordReset)).all()) == 2


class TestDevelopmentOutbox:
    @pytest.fixture
    def app_config(self):
        return {"MAIL_SERVER": None}  # the embedded default of `make run`: no worker runs there

    def test_the_link_lands_in_the_local_outbox_at_once(self, app, client, practice):
        if not app.config["DEV_OUTBOX"]:
            pytest.skip("the development outbox exists only on SQLite")
        with app.app_context():
            create_portal_user(db.session, practice.id, "dana@example.com", PARENT_PASSWORD, "scrypt:1024:8:1")
            db.session.commit()
        ask_for_link(app, "dana@example.com")
        with app.app_context():
            [message] = db.session.scalars(select(DevMailboxMessage)).all()
            assert message.recipient == "dana@example.com" and LINK.search(message.text_body)


def test_an_account_gets_at_most_three_links_per_half_hour(app, parent, mailbox):
    for _ in range(4):
        ask_for_link(app, "dana@example.com")
    outbox_send(app)
    assert len(mailed_links(mailbox)) == 3
    with app.app_context():
        refused = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "password reset request", AuditEvent.outcome == "refused")).all()
        assert [event.detail for event in refused] == ["too many links"]
