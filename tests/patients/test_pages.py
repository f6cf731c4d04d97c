"""The Patient Account page, the development outbox and the portal page, through the client."""

from __future__ import annotations

import html
from datetime import date

import pytest

from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import pin_from
from tests.support.staff_screens import HX, issue, sign_in


@pytest.fixture
def teen(app, practice):
    return make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14), guardian_email="maria.nunez@example.com")


def test_account_page_shows_name_birth_date_age_status_and_settings(staff_client, teen):
    response = staff_client.get(f"/patients/{teen.id}")
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "<h1>Núñez, Sofía</h1>" in body
    assert "03/14/2012" in body and "years" in body
    assert "Portal status: <strong>Unregistered</strong>" in body
    assert ">Account Settings</h2>" in body and ">Register Patient</button>" in body
    assert ">Sign out</button>" in body
    assert "HX-Request" in response.headers["Vary"] and response.headers["Cache-Control"] == "no-store"


def test_account_fragment_is_the_portal_summary_alone(staff_client, teen):
    response = staff_client.get(f"/patients/{teen.id}", headers=HX)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="portal-summary"') and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_account_page_shows_each_audiences_latest_credential_and_its_delivery(staff_client, teen, mailbox):
    issue(staff_client, teen.id, email="maria.nunez@example.com")
    issue(staff_client, teen.id, send_to="minor", send_by="none")
    body = html.unescape(staff_client.get(f"/patients/{teen.id}").get_data(as_text=True))
    assert 'aria-label="Parent/Guardian"' in body and 'aria-label="Minor"' in body
    assert body.count(">Active</span>") == 2
    assert "Email to m•••@example.com" in body and ">Sent</span>" in body
    assert "Not sent (Do not send PIN)" in body
    assert "Portal status: <strong>Pending</strong>" in body


def test_unknown_patient_is_404(staff_client):
    assert staff_client.get("/patients/999999").status_code == 404
    fragment = staff_client.get("/patients/999999", headers=HX)
    assert fragment.status_code == 404 and "<html" not in fragment.get_data(as_text=True)


def test_portal_register_page_has_the_contract_fields(client):
    body = client.get("/portal/register").get_data(as_text=True)
    for label in ("Email", "Password", "Patient date of birth", "PIN", "I accept the Terms &amp; Conditions"):
        assert f">{label}</label>" in body
    assert ">Create My Account</button>" in body
    assert client.get("/portal/register?desk=token").status_code == 410
    # A forged or stale link says so plainly (a real link's page is tested in test_portal.py).
    forged = client.get("/portal/register?vq=token")
    assert forged.status_code == 410 and "no longer valid" in forged.get_data(as_text=True)


def test_portal_register_post_needs_csrf(client):
    assert client.post("/portal/register", data={"email": "a@example.com"}).status_code == 400


class TestWithoutAMailServer:
    """MAIL_SERVER unset: the development outbox on the embedded SQLite default; elsewhere (a
    production database) no outbox page that would keep PINs, and the delivery shows as failed."""

    @pytest.fixture
    def app_config(self):
        return {"MAIL_SERVER": None}

    @pytest.fixture
    def admin_client(self, app, practice):
        make_staff(app, practice, "morgan", admin=True)
        client = app.test_client()
        assert sign_in(client, "morgan").status_code == 302
        return client

    def test_messages_land_in_the_outbox_page_only_on_sqlite(self, app, staff_client, admin_client, teen, mailbox):
        body = html.unescape(issue(staff_client, teen.id, email="maria.nunez@example.com").get_data(as_text=True))
        pin = pin_from(body)
        assert mailbox.messages == []  # nothing left the machine
        outbox = admin_client.get("/dev/outbox")
        nav = admin_client.get("/patients").get_data(as_text=True)
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            page = html.unescape(outbox.get_data(as_text=True))
            assert "maria.nunez@example.com" in page and pin in page
            assert ">Outbox</a>" in nav
        else:
            assert outbox.status_code == 404 and ">Outbox</a>" not in nav
            assert "No mail server is configured" in body

    def test_staff_who_are_not_admins_neither_see_nor_open_the_outbox(self, app, staff_client, teen, mailbox):
        """The outbox holds every active PIN of the practice: the front desk sees a PIN once, on issuing."""
        body = html.unescape(issue(staff_client, teen.id, email="maria.nunez@example.com").get_data(as_text=True))
        pin = pin_from(body)
        outbox = staff_client.get("/dev/outbox")
        assert outbox.status_code in (403, 404) and pin not in outbox.get_data(as_text=True)
        assert ">Outbox</a>" not in staff_client.get("/patients").get_data(as_text=True)
        assert ">Outbox</a>" not in staff_client.get(f"/patients/{teen.id}").get_data(as_text=True)

    def test_the_outbox_shows_only_this_practices_messages(self, app, admin_client, other_practice):
        if not app.config["DEV_OUTBOX"]:
            pytest.skip("the development outbox exists only on the SQLite default")
        from blueprints.extensions import db
        from models import DevMailboxMessage

        with app.app_context():
            db.session.add(DevMailboxMessage(practice_id=other_practice.id, recipient="x@other.example", subject="s", text_body="PIN ZZZZ-ZZZZ"))
            db.session.commit()
        outbox = admin_client.get("/dev/outbox")
        assert outbox.status_code == 200 and "ZZZZ-ZZZZ" not in outbox.get_data(as_text=True)


def post_basic_info(client, patient_id: int, first: str, last: str):
    return client.post(
        f"/patients/{patient_id}/basic-info", data={"first_name": first, "last_name": last},
        headers={"X-CSRFToken": client.csrf_token},
    )


def test_update_basic_info_stores_no_invisible_characters(app, staff_client, teen):
    """Zero-width and bidi characters would make the name read differently from what it holds."""
    response = post_basic_info(staff_client, teen.id, "So\u200bfía\u202e", "\u2066Núñez\u2069\ufeff")
    assert response.status_code == 302
    from blueprints.extensions import db
    from models import Patient

    with app.app_context():
        patient = db.session.get(Patient, teen.id)
        assert (patient.first_name, patient.last_name, patient.last_name_norm) == ("Sofía", "Núñez", "nunez")
    assert "<h1>Núñez, Sofía</h1>" in html.unescape(staff_client.get(f"/patients/{teen.id}").get_data(as_text=True))


@pytest.mark.parametrize("first, message", [
    ("\u200b\u200f", "Enter the patient's given name."),
    ("Ba\u200bby B\u200doy", "not a placeholder such as Baby Boy"),
])
def test_update_basic_info_sees_through_invisible_characters(app, staff_client, teen, first, message):
    response = post_basic_info(staff_client, teen.id, first, "Núñez")
    assert response.status_code == 422 and message in html.unescape(response.get_data(as_text=True))
    assert "<h1>Núñez, Sofía</h1>" in html.unescape(staff_client.get(f"/patients/{teen.id}").get_data(as_text=True))
