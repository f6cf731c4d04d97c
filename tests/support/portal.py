"""What parents do through the test client, and the PINs they type: issued as staff, read from the real mailbox."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from blueprints.extensions import db
from models import RegistrationCredential, utcnow
from tests.support.builders import make_patient
from tests.support.html_readers import csrf_token_from, pin_from
from tests.support.mail import text_of
from tests.support.staff_screens import issue

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
    match = re.search(rf"(http\S+[?&]{marker}=\S+)", text_of(mailbox.messages[-1]))
    assert match, "no link in the welcome message"
    return match.group(1)


def portal_post(client, url: str, **data):
    page = client.get(url)
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def client_at(app, address: str):
    """A browser at another client address (a stranger's, say): per-client delays and limits
    count it apart from the tests' default 127.0.0.1."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def register(client, pin: str, dob: str, email: str = "parent@example.com", password: str = PARENT_PASSWORD, **extra):
    data = {"email": email, "password": password, "date_of_birth": dob, "pin": pin, "accept_terms": "y"}
    data.update(extra)
    return portal_post(client, "/portal/register", **data)


def pins_for_every_failure_kind(app, staff_client, practice) -> tuple[list, dict[str, str]]:
    """Six children born 2015-01-01.. and, per failure kind, a PIN that fails that way when
    typed with the birth date 2015-02-28 (nobody's). Returns (children, {kind: pin})."""
    kids = [make_patient(app, practice, f"Kid{n}", "Ames", date(2015, 1, 1 + n)) for n in range(6)]
    pins = [issue_pin(staff_client, kid.id, send_by="none") for kid in kids]
    now = utcnow()
    with app.app_context():
        creds = {c.patient_id: c for c in db.session.scalars(select(RegistrationCredential))}
        creds[kids[1].id].issued_at, creds[kids[1].id].expires_at = now - timedelta(days=9), now - timedelta(days=2)
        creds[kids[2].id].used_at = now
        creds[kids[3].id].revoked_at, creds[kids[3].id].revoked_reason = now, "test"
        creds[kids[4].id].failed_attempts = 5
        db.session.commit()
    typo = pins[0][:-1] + ("A" if pins[0][-1] != "A" else "B")
    return kids, {
        "wrong": typo,
        "unknown": "ZZZZ-ZZZZ",
        "expired": pins[1],
        "used": pins[2],
        "revoked": pins[3],
        "locked": pins[4],
        "wrong date of birth": pins[5],  # born 2015-01-06, not on the date typed
    }
