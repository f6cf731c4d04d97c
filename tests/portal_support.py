"""Helpers for parent-side tests: issue a PIN as staff and read it from the real mailbox."""

from __future__ import annotations

import re

from tests.support import csrf_token_from, text_of
from tests.test_registration import issue, pin_from

PARENT_PASSWORD = "maple syrup lighthouse 42"


def issue_pin(staff_client, patient_id: int, mailbox=None, **fields) -> str:
    """Issue a PIN through the staff window; return it as the email carried it (or as shown)."""
    response = issue(staff_client, patient_id, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    shown = pin_from(response.get_data(as_text=True))
    if mailbox is not None and fields.get("send_by", "email") != "none":
        mailed = re.search(r"PIN: ([0-9A-Z]{4}-[0-9A-Z]{4})", text_of(mailbox.messages[-1]))
        assert mailed and mailed.group(1) == shown
    return shown


def link_from_mail(mailbox, marker: str) -> str:
    match = re.search(rf"(http\S+\?{marker}=\S+)", text_of(mailbox.messages[-1]))
    assert match, "no link in the welcome message"
    return match.group(1)


def portal_post(client, url: str, **data):
    page = client.get(url)
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def register(client, pin: str, dob: str, email: str = "parent@example.com", password: str = PARENT_PASSWORD, **extra):
    data = {"email": email, "password": password, "date_of_birth": dob, "pin": pin, "accept_terms": "y"}
    data.update(extra)
    return portal_post(client, "/portal/register", **data)
