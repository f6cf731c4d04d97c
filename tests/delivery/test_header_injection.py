"""A value that becomes a mail header is one line: the template editor refuses a subject holding
any control character or line separator, and a message whose headers would hold one (a subject
planted in the database, whatever let it in) is never sent: it fails with a plain reason."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import MessageTemplate, WelcomeMessage
from models.vocabulary import MessageStatus
from services.delivery import message_templates
from tests.support.staff_screens import HX, account_page, issue, signed_in_admin

# Python's email generator breaks a header at each of these, as at CR and LF.
LINE_BREAKERS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00", "\x1b", "\x7f", "\x9b"]


def attack_subject(breaker: str) -> str:
    return breaker.join([
        "Your portal PIN", "Reply-To: records@evil.example", "Content-Type: text/html", "",
        '<a href="https://evil.example/">Confirm your child\'s records</a>',
    ])


@pytest.fixture
def admin_client(app, practice):
    return signed_in_admin(app, practice)


def subject_error(page: str) -> str:
    match = re.search(r'<p class="error" id="subject-error">(.*?)</p>', page, re.S)
    return html.unescape(match.group(1)) if match else ""


@pytest.mark.parametrize("breaker", LINE_BREAKERS, ids=[f"U+{ord(c):04X}" for c in LINE_BREAKERS])
def test_the_editor_refuses_a_subject_that_holds_a_line_break_of_any_kind(app, admin_client, practice, breaker):
    response = admin_client.post(
        "/practice/templates/email",
        data={"subject": attack_subject(breaker), "body": message_templates.DEFAULT_EMAIL_BODY, "action": "save"},
        headers={**HX, "X-CSRFToken": admin_client.csrf_token},
    )
    if breaker == "\x00":
        assert response.status_code == 400  # refused for any field before any form reads it (blueprints/input_bounds.py)
    else:
        assert response.status_code == 422
        assert "must be one line of text" in subject_error(response.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalars(select(MessageTemplate)).all() == []


@pytest.mark.parametrize("breaker", ["\x0b", "\u2028"], ids=["VT", "U+2028"])
def test_a_subject_planted_in_the_database_sends_nothing_and_the_message_fails(app, admin_client, practice, child, mailbox, breaker):
    with app.app_context():
        db.session.add(MessageTemplate(
            practice_id=practice.id, kind="email", subject=attack_subject(breaker), body=message_templates.DEFAULT_EMAIL_BODY,
        ))
        db.session.commit()

    response = issue(admin_client, child.id)
    assert response.status_code == 200

    assert [message for message in mailbox.messages if message["Reply-To"]] == []
    assert mailbox.messages == []
    with app.app_context():
        [message] = db.session.scalars(select(WelcomeMessage)).all()
        assert message.status == MessageStatus.FAILED
        assert message.last_error == "Not sent: the message's subject holds a line break or another control character."
        assert message.body_encrypted is None
    page = account_page(admin_client, child.id)
    assert "Failed" in page and "subject holds a line break" in page
