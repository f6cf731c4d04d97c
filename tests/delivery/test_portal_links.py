"""Links in messages name their practice (`PORTAL_URL?practice=SLUG`), keep a portal URL's own
query, and in the email carry the PIN in the fragment (`#pin=XXXX-XXXX`); the email that reaches
the loopback SMTP server has that link in its text and its HTML part."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.credentials.registration import LONGEST_CREDENTIAL_ID, question_link
from services.delivery.portal_links import pin_link, practice_link, with_query
from services.delivery.welcome_messages import (
    LONGEST_SLUG,
    SMS_LIMIT,
    WelcomeDetails,
    compose_text_message,
    gsm7_length,
    text_message_possible,
)
from tests.support.app_settings import PORTAL_URL
from tests.support.builders import make_patient
from tests.support.html_readers import pin_from
from tests.support.mail import text_of
from tests.support.staff_screens import issue


@pytest.mark.parametrize(("portal_url", "expected"), [
    ("https://portal.example/reg", "https://portal.example/reg?practice=cedar-pediatrics"),
    ("https://portal.example/reg?src=op", "https://portal.example/reg?src=op&practice=cedar-pediatrics"),
    # The portal URL's own pairs stay as written, in their order; only a `practice` gives way.
    ("https://portal.example/reg?a=1&b=x%20y&c", "https://portal.example/reg?a=1&b=x%20y&c&practice=cedar-pediatrics"),
    ("https://portal.example/reg?practice=old&src=op", "https://portal.example/reg?src=op&practice=cedar-pediatrics"),
    ("https://portal.example/reg?", "https://portal.example/reg?practice=cedar-pediatrics"),
    ("https://portal.example:8443/p/register#top", "https://portal.example:8443/p/register?practice=cedar-pediatrics#top"),
])
def test_the_practice_link_names_the_practice_and_keeps_the_portal_urls_query(portal_url, expected):
    assert practice_link(portal_url, "cedar-pediatrics") == expected


@pytest.mark.parametrize("portal_url", ["https://portal.example/reg", "https://portal.example/reg?src=op#top"])
def test_the_pin_link_carries_the_pin_in_the_fragment_only(portal_url):
    link = pin_link(portal_url, "cedar-pediatrics", "K7QX-4M2P")
    parts = urlsplit(link)
    assert parts.fragment == "pin=K7QX-4M2P"
    assert "K7QX" not in parts.query and "K7QX" not in parts.path  # never sent to a server
    assert dict(parse_qsl(parts.query))["practice"] == "cedar-pediatrics"
    assert link.startswith(portal_url.split("#")[0])


def test_with_query_encodes_the_values_it_adds():
    assert with_query("https://p.example/r?x=1", vq="a b&c=d") == "https://p.example/r?x=1&vq=a+b%26c%3Dd"


def test_a_question_link_names_the_practice_and_keeps_the_portal_urls_query():
    link = question_link("https://portal.example/reg?src=op", "cedar-pediatrics", "secret", 7)
    assert re.fullmatch(r"https://portal\.example/reg\?src=op&practice=cedar-pediatrics&vq=[\w.-]+", link), link


def details(**overrides) -> WelcomeDetails:
    values = dict(
        practice_name="Cedar Pediatrics", practice_slug="cedar-pediatrics", portal_url="https://portal.example/reg?src=op",
        expires_at=datetime(2026, 12, 3, 21, 0, tzinfo=UTC), timezone="America/New_York", patient_first_name="Sofía",
        pin="K7QX-4M2P",
    )
    return WelcomeDetails(**{**values, **overrides})


def test_welcome_details_give_the_links_so_that_templates_build_none():
    d = details()
    assert d.practice_link == "https://portal.example/reg?src=op&practice=cedar-pediatrics"
    assert d.pin_link == "https://portal.example/reg?src=op&practice=cedar-pediatrics#pin=K7QX-4M2P"
    assert details(pin=None, question_link="https://q.example/?vq=t").pin_link is None


def test_the_text_message_carries_the_practice_link_and_the_pin_as_text():
    sms = compose_text_message(details())
    assert "https://portal.example/reg?src=op&practice=cedar-pediatrics" in sms and "K7QX-4M2P" in sms
    assert "#pin" not in sms and "Sof" not in sms and gsm7_length(sms) <= SMS_LIMIT


def test_the_text_fit_check_counts_the_slug_at_its_longest():
    """`PIN WWWW-WWWW ` and `?practice=` + 40 leave 160 - 14 - 50 = 96 characters for the portal URL."""
    base = "https://p.example/"
    fits, too_long = base + "x" * (96 - len(base)), base + "x" * (97 - len(base))
    assert text_message_possible(fits) and not text_message_possible(too_long)
    assert compose_text_message(details(portal_url=fits, practice_slug=LONGEST_SLUG, practice_name="")) is not None
    # A practice whose own slug is short has room for a longer URL.
    assert text_message_possible(too_long, "cedar")
    sample = question_link(fits, LONGEST_SLUG, "secret", LONGEST_CREDENTIAL_ID)
    assert not text_message_possible(too_long, sample_link=sample + "x")


@pytest.fixture
def teen(app, practice):
    return make_patient(app, practice, "Sofía", "Núñez", datetime(2012, 3, 14).date(), guardian_email="maria@example.com")


def test_the_mailed_welcome_email_links_with_the_pin_in_the_fragment(app, staff_client, teen, mailbox):
    pin = pin_from(issue(staff_client, teen.id).get_data(as_text=True))
    [message] = mailbox.messages
    link = f"{PORTAL_URL}?practice=cedar-pediatrics#pin={pin}"
    assert link in text_of(message)
    html_part = message.get_body(preferencelist=("html",)).get_content()
    assert f'<a href="{html.escape(link)}">' in html_part
    assert f"?pin={pin}" not in text_of(message) and f"&pin={pin}" not in text_of(message)
