"""What the parent's pages answer through the test client: an htmx POST gets the messages alone
(never a password), a plain POST the whole page; the terms are the practice's plain text; the
signed-out sentence cannot be chosen by a link."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from blueprints.extensions import db
from models import AuditEvent, Practice
from models.practice import DEFAULT_TERMS_TEXT, TERMS_MAX_LENGTH
from services.credentials.redemption import FAILURE_MESSAGE
from tests.support.builders import make_patient
from tests.support.html_readers import csrf_token_from
from tests.support.portal import PARENT_PASSWORD, issue_pin, register
from tests.support.staff_screens import signed_in_admin

HTMX = {"HX-Request": "true"}


def test_an_htmx_refusal_is_the_messages_alone_and_a_plain_one_the_whole_page(client, practice):
    child_dob = "2018-05-17"
    url = "/portal/register?practice=cedar-pediatrics"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    data = {"csrf_token": token, "email": "dana@example.com", "password": PARENT_PASSWORD,
            "date_of_birth": child_dob, "pin": "ZZZZ-ZZZZ", "accept_terms": "y"}
    fragment = client.post(url, data=data, headers=HTMX)
    body = html.unescape(fragment.get_data(as_text=True))
    assert fragment.status_code == 422 and "HX-Request" in fragment.headers["Vary"]
    assert FAILURE_MESSAGE in body and "<form" not in body and "<html" not in body
    assert PARENT_PASSWORD not in body
    page = client.post(url, data=data)
    assert page.status_code == 422
    text = html.unescape(page.get_data(as_text=True))
    assert FAILURE_MESSAGE in text and "Registering with <strong>Cedar Pediatrics</strong>" in text
    assert PARENT_PASSWORD not in text


def test_an_htmx_refusal_lists_each_refused_field(client, practice):
    token = csrf_token_from(client.get("/portal/register").get_data(as_text=True))
    body = client.post("/portal/register", data={"csrf_token": token, "password": "short"}, headers=HTMX).get_data(as_text=True)
    assert '<a href="#password">Password</a>: Use at least 12 characters.' in body
    assert '<a href="#email">Email</a>: Enter your email address.' in body
    assert "short" not in body.replace("Use at least", "")


def test_an_htmx_registration_that_works_navigates(app, client, staff_client, practice):
    child = make_patient(app, practice)
    pin = issue_pin(staff_client, child.id, send_by="none")
    token = csrf_token_from(client.get("/portal/register").get_data(as_text=True))
    response = client.post("/portal/register", headers=HTMX, data={
        "csrf_token": token, "email": "dana@example.com", "password": PARENT_PASSWORD,
        "date_of_birth": child.date_of_birth.isoformat(), "pin": pin, "accept_terms": "y"})
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/portal/"
    assert PARENT_PASSWORD not in response.get_data(as_text=True)


def test_the_terms_are_the_practices_plain_text(app, client, practice):
    page = client.get("/portal/terms?practice=cedar-pediatrics").get_data(as_text=True)
    assert DEFAULT_TERMS_TEXT.split("\n")[0] in page
    with app.app_context():
        db.session.get(Practice, practice.id).terms_text = "First <script>x</script>\nline two\n\n\nSecond"
        db.session.commit()
    page = client.get("/portal/terms?practice=cedar-pediatrics").get_data(as_text=True)
    assert "<p>First &lt;script&gt;x&lt;/script&gt;<br>line two</p>" in page and "<p>Second</p>" in page
    # No practice named: the built-in wording.
    assert DEFAULT_TERMS_TEXT.split("\n")[0] in client.get("/portal/terms").get_data(as_text=True)


@pytest.mark.parametrize("text, message", [
    ("", "Enter the Terms &amp; Conditions your parents accept."),
    (" \n ", "Enter the Terms &amp; Conditions your parents accept."),
    ("x" * (TERMS_MAX_LENGTH + 1), f"Keep the Terms &amp; Conditions to {TERMS_MAX_LENGTH:,} characters."),
])
def test_practice_settings_refuse_empty_or_overlong_terms(app, practice, text, message):
    admin = signed_in_admin(app, practice)
    response = admin.post("/practice/settings", data={"pin_lifetime_days": "7", "terms_text": text, "csrf_token": admin.csrf_token})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Practice, practice.id).terms_text == DEFAULT_TERMS_TEXT


def test_saving_the_terms_is_audited(app, practice):
    admin = signed_in_admin(app, practice)
    response = admin.post("/practice/settings", data={"pin_lifetime_days": "7", "terms_text": "Our terms.\r\n\r\nMore.",
                                                      "csrf_token": admin.csrf_token})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Practice, practice.id).terms_text == "Our terms.\n\nMore."
        details = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.staff_username == "morgan")).all()
    assert "PIN lifetime 7 days; Terms & Conditions changed" in details


@pytest.mark.parametrize("path", ["/signin", "/portal/signin"])
def test_the_signed_out_sentence_is_fixed(client, practice, path):
    page = client.get(path, query_string={"signed_out": "<b>Call 555-0100</b>"}).get_data(as_text=True)
    shown = re.sub(r"<[^>]*>", " ", page)  # what the page says, not its attributes
    assert "You have signed out." in shown and "555-0100" not in shown


def test_a_parent_signing_out_lands_on_a_sign_in_page_that_says_so_and_names_the_practice(app, client, staff_client, practice):
    child = make_patient(app, practice)
    register(client, issue_pin(staff_client, child.id, send_by="none"), child.date_of_birth.isoformat())
    token = csrf_token_from(client.get("/portal/").get_data(as_text=True))
    response = client.post("/portal/signout", data={"csrf_token": token})
    assert response.headers["Location"] == "/portal/signin?signed_out=1&practice=cedar-pediatrics"


def test_an_htmx_post_to_a_dead_link_gets_the_whole_page_in_place_of_main(client, practice):
    url = "/portal/register?practice=cedar-pediatrics&desk=not-a-token"
    token = csrf_token_from(client.get("/portal/register").get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token}, headers=HTMX)
    assert response.status_code == 410
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"], response.headers["HX-Reselect"]) == (
        "#main", "outerHTML", "#main")
    assert "This link is no longer valid" in response.get_data(as_text=True)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t \r\n", "x" * (TERMS_MAX_LENGTH + 1)])
def test_the_database_refuses_blank_or_overlong_terms(app, practice, bad):
    """Practice Settings refuses them with a message; a script or a console cannot store them either."""
    with app.app_context():
        with pytest.raises(DatabaseError):
            db.session.execute(text("UPDATE practices SET terms_text = :t WHERE id = :id"), {"t": bad, "id": practice.id})
            db.session.flush()
        db.session.rollback()
        db.session.execute(text("UPDATE practices SET terms_text = :t WHERE id = :id"), {"t": "x" * TERMS_MAX_LENGTH, "id": practice.id})
        db.session.commit()
        db.session.remove()
