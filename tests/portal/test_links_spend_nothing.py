"""Opening a link from a message spends nothing; only the form's POST does. A corporate mail
scanner opens every link of an email before the parent does (twice, here): afterwards no row
of any table has changed (no credential used, no failure counted, no reset link spent, no audit
row, no session) and the parent's POST still succeeds. PORTAL_RATE_LIMIT allows only the POSTs
the parent makes, so a GET that drew on it would show too."""

from __future__ import annotations

import html
import re
from datetime import date
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import PortalUser, RegistrationCredential
from tests.support.builders import make_patient
from tests.support.html_readers import pin_from
from tests.support.mail import outbox_send, text_of
from tests.support.portal import PARENT_PASSWORD, portal_post
from tests.support.staff_screens import issue

NEW_PASSWORD = "harbor kettle orchard 77"


@pytest.fixture
def app_config():
    # Two POSTs a minute per client: the parent's own (asking for a reset link, then using it).
    return {"PORTAL_RATE_LIMIT": "2/minute"}


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


def every_row(app) -> dict[str, list]:
    """Each table's rows, in a comparable form."""
    with app.app_context():
        rows = {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            for table in db.metadata.sorted_tables
        }
        db.session.remove()
    return rows


def path_of(link: str) -> str:
    """The part of a message's link a browser sends (no fragment): path and query."""
    parts = urlsplit(html.unescape(link))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def mail_scanner_opens(app, link: str) -> None:
    """GET the link twice, as a scanner would, with no cookies, and see the page each time."""
    for _ in range(2):
        response = app.test_client().get(path_of(link))
        assert response.status_code == 200, (link, response.status_code)


def only_link_in(message, pattern: str) -> str:
    links = re.findall(r"https?://\S+", text_of(message))
    matching = [link for link in links if re.search(pattern, link)]
    assert matching, f"no link matching {pattern!r} in {links}"
    return matching[0]


def test_opening_the_pin_emails_link_spends_nothing(app, staff_client, child, mailbox):
    pin = pin_from(issue(staff_client, child.id).get_data(as_text=True))
    link = only_link_in(mailbox.messages[-1], r"#pin=")
    assert "?practice=cedar-pediatrics#pin=" in link
    before = every_row(app)
    mail_scanner_opens(app, link)
    mail_scanner_opens(app, link.replace("/portal/register", "/portal/signin"))
    assert every_row(app) == before
    done = portal_post(app.test_client(), path_of(link), email="dana@example.com", password=PARENT_PASSWORD,
                       date_of_birth="2018-05-17", pin=pin, accept_terms="y")
    assert done.status_code == 303


def test_opening_a_verification_questions_link_spends_nothing(app, staff_client, child, mailbox):
    issue(staff_client, child.id, method="question", question="Name of the first pet?", answer="Mr Whiskers")
    link = only_link_in(mailbox.messages[-1], r"[?&]vq=")
    assert "?practice=cedar-pediatrics&vq=" in link
    before = every_row(app)
    mail_scanner_opens(app, link)
    assert every_row(app) == before
    done = portal_post(app.test_client(), path_of(link), email="dana@example.com", password=PARENT_PASSWORD,
                       date_of_birth="2018-05-17", answer="mr whiskers", accept_terms="y")
    assert done.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(RegistrationCredential.used_at)) is not None


def test_opening_the_front_desks_link_spends_nothing(app, staff_client, child, mailbox):
    body = issue(staff_client, child.id, action="complete").get_data(as_text=True)
    link = re.search(r'id="portal-link"[^>]*href="([^"]+)"', body).group(1)
    assert "?practice=cedar-pediatrics&amp;desk=" in link
    before = every_row(app)
    mail_scanner_opens(app, link)
    assert every_row(app) == before
    done = portal_post(app.test_client(), path_of(link), email="dana@example.com", password=PARENT_PASSWORD,
                       accept_terms="y")
    assert done.status_code == 200 and "Emma" in done.get_data(as_text=True)


def test_opening_a_password_reset_link_spends_nothing(app, practice, mailbox):
    from services.identity.portal_accounts import create_portal_user

    with app.app_context():
        create_portal_user(db.session, practice.id, "dana@example.com", PARENT_PASSWORD, app.config["HASH_METHOD"])
        db.session.commit()
    client = app.test_client()
    assert portal_post(client, "/portal/forgot-password", email="dana@example.com").status_code == 200
    outbox_send(app)
    link = only_link_in(mailbox.messages[-1], r"/portal/reset-password\?")
    assert "?practice=cedar-pediatrics&token=" in link
    before = every_row(app)
    mail_scanner_opens(app, link)
    assert every_row(app) == before
    done = portal_post(client, path_of(link), password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert done.status_code == 303
    with app.app_context():
        user = db.session.scalar(select(PortalUser))
        from werkzeug.security import check_password_hash

        assert check_password_hash(user.password_hash, NEW_PASSWORD)
