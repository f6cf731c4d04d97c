"""The staff side of a PIN's life: Revoke PIN with a reason on the Patient Account
page, the Locked state, and the practice's PIN lifetime set by a practice admin."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from blueprints.extensions import db
from models import Practice, RegistrationCredential
from services.actor import Actor
from services.credentials.registration import CredentialNotActive, CredentialNotFound, revoke_credential
from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.rows import credentials
from tests.support.staff_screens import HX, issue, revoke, revoke_url, sign_in


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


@pytest.fixture
def teen(app, practice):
    return make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14), guardian_email="maria.nunez@example.com")


def signed_in_client(app, username: str):
    client = app.test_client()
    assert sign_in(client, username=username).status_code == 302
    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    return client


@pytest.fixture
def admin_client(app, practice):
    """A client signed in as an admin of `practice`."""
    make_staff(app, practice, username="ada", admin=True)
    return signed_in_client(app, "ada")


def account_page(client, patient_id: int) -> str:
    response = client.get(f"/patients/{patient_id}")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def region(body: str, audience_label: str) -> str:
    """The audience's region of the portal summary."""
    match = re.search(rf'<section class="credential" aria-label="{re.escape(audience_label)}">(.*?)</section>', body, re.S)
    assert match, f"no {audience_label} region"
    return match.group(1)


def only_credential(app, patient_id: int) -> RegistrationCredential:
    rows = credentials(app, patient_id)
    assert len(rows) == 1
    return rows[0]


def update_credential(app, credential_id: int, **values) -> None:
    with app.app_context():
        credential = db.session.get(RegistrationCredential, credential_id)
        for key, value in values.items():
            setattr(credential, key, value)
        db.session.commit()


# Revoke PIN ---------------------------------------------------------------------------------


def test_an_active_pin_offers_revoke_pin_with_a_labelled_reason_per_audience(staff_client, teen, mailbox):
    issue(staff_client, teen.id, email="maria.nunez@example.com")
    issue(staff_client, teen.id, send_to="minor", send_by="none")
    body = account_page(staff_client, teen.id)
    for audience, label in (("guardian", "Parent/Guardian"), ("minor", "Minor")):
        part = region(body, label)
        assert ">Active</span>" in part
        assert f'<label for="revoke-{audience}-reason">Reason</label>' in part
        assert f'id="revoke-{audience}-reason"' in part and f'name="revoke-{audience}-reason"' in part
        assert ">Revoke PIN</button>" in part and 'method="post"' in part and 'hx-post="' in part
        # One deliberate step away: a first Revoke PIN opens the box (?revoke=AUDIENCE), hidden.
        assert f'<input type="hidden" name="revoke" value="{audience}">' in part
        assert f'id="revoke-{audience}-form" method="post"' in part
    assert body.count(">Revoke PIN</button>") == 4


def test_revoke_with_htmx_swaps_the_summary_showing_revoked_and_unregistered(app, staff_client, child, mailbox):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    assert "Portal status: <strong>Pending</strong>" in account_page(staff_client, child.id)

    response = revoke(staff_client, child.id, credential.id, reason="  Sent to the wrong address  ")
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="portal-summary"') and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]
    assert "Portal status: <strong>Unregistered</strong>" in body
    part = region(body, "Parent/Guardian")
    assert ">Revoked</span>" in part and ": Sent to the wrong address</p>" in part
    assert 'role="status" tabindex="-1" autofocus>PIN revoked.</p>' in part
    assert ">Revoke PIN</button>" not in body

    revoked = only_credential(app, child.id)
    assert revoked.revoked_at is not None and revoked.revoked_reason == "Sent to the wrong address"
    assert revoked.used_at is None
    page = account_page(staff_client, child.id)
    assert "Portal status: <strong>Unregistered</strong>" in page and ">Revoked</span>" in page
    assert "Carter, Emma" in staff_client.get("/patients?status=unregistered", headers=HX).get_data(as_text=True)


def test_revoke_without_javascript_redirects_back_to_the_account_page(app, staff_client, child, mailbox):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    response = revoke(staff_client, child.id, credential.id, reason="Duplicate", htmx=False)
    assert response.status_code == 302 and response.headers["Location"] == f"/patients/{child.id}"
    page = account_page(staff_client, child.id)
    assert "PIN revoked." in page and ">Revoked</span>" in page and ": Duplicate</p>" in page
    assert "Portal status: <strong>Unregistered</strong>" in page
    assert only_credential(app, child.id).revoked_reason == "Duplicate"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
@pytest.mark.parametrize("reason", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_an_empty_reason_is_422_with_the_message_beside_the_field(app, staff_client, child, mailbox, reason, htmx):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    response = revoke(staff_client, child.id, credential.id, reason=reason, htmx=htmx)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert ("<html" in body) is not htmx
    field = re.search(r'<input\b[^>]*id="revoke-guardian-reason"[^>]*>', body).group(0)
    assert 'aria-invalid="true"' in field and "revoke-guardian-reason-error" in field and "autofocus" in field
    assert '<p class="error" id="revoke-guardian-reason-error">Enter the reason for revoking.</p>' in body
    assert "HX-Request" in response.headers["Vary"]
    unchanged = only_credential(app, child.id)
    assert unchanged.revoked_at is None and unchanged.revoked_reason is None


def test_a_reason_longer_than_the_column_is_422(app, staff_client, child, mailbox):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    response = revoke(staff_client, child.id, credential.id, reason="x" * 201)
    assert response.status_code == 422 and "200 characters or fewer" in response.get_data(as_text=True)
    assert only_credential(app, child.id).revoked_at is None


def test_revoking_one_audience_leaves_the_other_active_and_the_status_pending(app, staff_client, teen, mailbox):
    issue(staff_client, teen.id, email="maria.nunez@example.com")
    issue(staff_client, teen.id, send_to="minor", send_by="none")
    guardian, minor = credentials(app, teen.id)
    response = revoke(staff_client, teen.id, minor.id, reason="Teen not ready", audience="minor")
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert ">Revoked</span>" in region(body, "Minor") and ">Active</span>" in region(body, "Parent/Guardian")
    assert ">Revoke PIN</button>" in region(body, "Parent/Guardian") and ">Revoke PIN</button>" not in region(body, "Minor")
    assert "Portal status: <strong>Pending</strong>" in body
    after = {row.audience: row for row in credentials(app, teen.id)}
    assert after["minor"].revoked_reason == "Teen not ready" and after["guardian"].revoked_at is None


@pytest.mark.parametrize(
    "change, state",
    [
        ({"revoked_at": datetime(2024, 1, 1, tzinfo=UTC), "revoked_reason": "Earlier"}, "Revoked"),
        ({"used_at": datetime(2024, 1, 1, tzinfo=UTC)}, "Used"),
        ({"failed_attempts": 5}, "Locked"),
        ({"issued_at": datetime(2024, 1, 1, tzinfo=UTC), "expires_at": datetime(2024, 1, 8, tzinfo=UTC)}, "Expired"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_credential_that_is_not_active_is_refused_with_409(app, staff_client, child, mailbox, change, state, htmx):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    update_credential(app, credential.id, **change)
    response = revoke(staff_client, child.id, credential.id, reason="Too late", htmx=htmx)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 409
    assert f'role="alert" tabindex="-1" autofocus>Not revoked: that PIN is {state} already, not Active.</p>' in body
    assert ("<html" in body) is not htmx
    assert f">{state}</span>" in body and ">Revoke PIN</button>" not in body
    assert only_credential(app, child.id).revoked_reason == change.get("revoked_reason")


def test_a_second_revoke_of_the_same_pin_is_409_and_keeps_the_first_reason(app, staff_client, child, mailbox):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    assert revoke(staff_client, child.id, credential.id, reason="First").status_code == 200
    again = revoke(staff_client, child.id, credential.id, reason="Second")
    assert again.status_code == 409 and "Not revoked: that PIN is Revoked already" in again.get_data(as_text=True)
    assert only_credential(app, child.id).revoked_reason == "First"


def test_a_replaced_pin_is_refused_and_the_new_one_stays_active(app, staff_client, child, mailbox):
    """A page showing the old PIN's form, submitted after someone issued a new PIN."""
    issue(staff_client, child.id)
    old = only_credential(app, child.id)
    issue(staff_client, child.id)
    response = revoke(staff_client, child.id, old.id, reason="Stale page")
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 409 and "Portal status: <strong>Pending</strong>" in body
    assert ">Active</span>" in region(body, "Parent/Guardian")
    first, second = credentials(app, child.id)
    assert second.revoked_at is None and first.revoked_reason != "Stale page"


def test_another_practices_credential_is_404_and_untouched(app, staff_client, child, other_practice, mailbox):
    make_staff(app, other_practice, username="bea")
    other_client = signed_in_client(app, "bea")
    stranger = make_patient(app, other_practice, "Noah", "Stone", date(2015, 2, 2), guardian_email="stone@example.com")
    issue(other_client, stranger.id, email="stone@example.com")
    theirs = only_credential(app, stranger.id)
    issue(staff_client, child.id)
    ours = only_credential(app, child.id)

    # By their patient's URL, by our patient's URL, and an id that does not exist at all.
    for url_patient, credential_id in ((stranger.id, theirs.id), (child.id, theirs.id), (child.id, 999_999)):
        for htmx in (True, False):
            response = revoke(staff_client, url_patient, credential_id, htmx=htmx)
            assert response.status_code == 404
    assert only_credential(app, stranger.id).revoked_at is None
    # Nor may their staff revoke ours.
    assert revoke(other_client, child.id, ours.id).status_code == 404
    assert revoke(other_client, stranger.id, ours.id).status_code == 404
    assert only_credential(app, child.id).revoked_at is None


def test_a_credential_of_another_patient_of_the_same_practice_is_404(app, staff_client, child, teen, mailbox):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    assert revoke(staff_client, teen.id, credential.id).status_code == 404
    assert only_credential(app, child.id).revoked_at is None


def test_revoke_without_csrf_token_is_refused(app, staff_client, child, mailbox):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    response = staff_client.post(revoke_url(child.id, credential.id), data={"revoke-guardian-reason": "x"}, headers=HX)
    assert response.status_code == 400
    assert only_credential(app, child.id).revoked_at is None


def test_revoke_needs_a_signed_in_staff_member(app, client, staff_client, child, mailbox):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    token = csrf_token_from(client.get("/signin").get_data(as_text=True))
    response = client.post(revoke_url(child.id, credential.id), data={"revoke-guardian-reason": "x", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    assert only_credential(app, child.id).revoked_at is None


def test_the_issue_response_updates_the_summary_out_of_band_with_revoke_pin(app, staff_client, child, mailbox):
    body = html.unescape(issue(staff_client, child.id).get_data(as_text=True))
    assert '<section id="portal-summary" class="panel" aria-labelledby="portal-heading" hx-swap-oob="true">' in body
    summary = body[body.index('<section id="portal-summary"'):]
    assert ">Active</span>" in summary and ">Revoke PIN</button>" in summary
    assert 'id="revoke-guardian-reason"' in summary


def test_revoke_a_verification_question(app, staff_client, child, mailbox):
    issue(staff_client, child.id, method="question", question="First pet?", answer="Rex")
    credential = only_credential(app, child.id)
    body = account_page(staff_client, child.id)
    assert ">Revoke PIN</button>" in region(body, "Parent/Guardian")
    response = revoke(staff_client, child.id, credential.id, reason="Question too easy")
    assert response.status_code == 200 and "Verification question revoked." in response.get_data(as_text=True)
    assert only_credential(app, child.id).revoked_reason == "Question too easy"


class TestRevokeService:
    """revoke_credential on its own: an actor, a session and plain values, as the CLI would call it."""

    def test_revokes_an_active_credential_and_refuses_the_rest(self, app, staff_client, practice, other_practice, child, mailbox):
        issue(staff_client, child.id)
        credential = only_credential(app, child.id)
        now = datetime.now(UTC)
        here, later = Actor(practice.id, clock=lambda: now), Actor(practice.id, clock=lambda: now + timedelta(days=8))
        with app.app_context():
            credential = db.session.get(RegistrationCredential, credential.id)
            with pytest.raises(CredentialNotFound):
                revoke_credential(db.session, Actor(other_practice.id, clock=lambda: now), credential, "x")
            with pytest.raises(ValueError):
                revoke_credential(db.session, here, credential, "  ")
            # Past its expiry it is not active any more.
            with pytest.raises(CredentialNotActive) as refused:
                revoke_credential(db.session, later, credential, "x")
            assert refused.value.state == "Expired"
            revoked = revoke_credential(db.session, here, credential, " Lost letter ")
            assert revoked.revoked_reason == "Lost letter" and revoked.revoked_at == now
            with pytest.raises(CredentialNotActive):
                revoke_credential(db.session, here, credential, "again")


# Locked ---------------------------------------------------------------------------------------


def test_a_pin_with_five_failed_attempts_shows_locked_without_revoke_and_is_not_pending(app, staff_client, child, mailbox):
    issue(staff_client, child.id)
    credential = only_credential(app, child.id)
    update_credential(app, credential.id, failed_attempts=4)
    assert "Portal status: <strong>Pending</strong>" in account_page(staff_client, child.id)

    update_credential(app, credential.id, failed_attempts=5)
    body = account_page(staff_client, child.id)
    part = region(body, "Parent/Guardian")
    assert ">Locked</span>" in part and ">Active</span>" not in part
    assert ">Revoke PIN</button>" not in body and "revoke-guardian-reason" not in body
    assert "Portal status: <strong>Pending</strong>" not in body
    assert "Portal status: <strong>Unregistered</strong>" in body
    assert "Carter, Emma" not in staff_client.get("/patients?status=pending", headers=HX).get_data(as_text=True)


# Practice Settings ------------------------------------------------------------------------------


def test_admins_see_practice_settings_in_the_header_and_others_do_not(app, admin_client, staff_client):
    assert ">Practice Settings</a>" in admin_client.get("/patients").get_data(as_text=True)
    assert ">Practice Settings</a>" not in staff_client.get("/patients").get_data(as_text=True)


def test_the_settings_page_shows_the_lifetime_with_its_label_default_7(app, admin_client):
    response = admin_client.get("/practice/settings")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h1>Practice Settings</h1>" in body
    assert '<label for="pin_lifetime_days">PIN lifetime (days)</label>' in body
    field = re.search(r'<input\b[^>]*id="pin_lifetime_days"[^>]*>', body).group(0)
    assert 'type="number"' in field and 'value="7"' in field and 'min="1"' in field and 'max="90"' in field
    assert 'aria-current="page">Practice Settings</a>' in body


def test_staff_who_are_not_admins_get_403(app, staff_client, practice):
    assert staff_client.get("/practice/settings").status_code == 403
    response = staff_client.post(
        "/practice/settings", data={"pin_lifetime_days": "30", "csrf_token": staff_client.csrf_token}
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Practice, practice.id).pin_lifetime_days == 7


def test_an_admin_of_another_practice_is_not_an_admin_here(app, practice, other_practice):
    """alex works in both: signing in asks which practice; in Birch alex is not an admin."""
    make_staff(app, practice, username="alex", admin=True)
    make_staff(app, other_practice, username="alex", admin=False)
    client = app.test_client()
    signed = sign_in(client, username="alex")
    assert signed.status_code == 302 and signed.headers["Location"].startswith("/practice/choose")
    chooser = client.get("/practice/choose").get_data(as_text=True)
    assert ">Birch Family Medicine</button>" in chooser and ">Cedar Pediatrics</button>" in chooser
    assert client.get("/patients").headers["Location"].startswith("/practice/choose")  # nothing before choosing
    token = csrf_token_from(chooser)
    client.post("/practice/choose", data={"practice_id": other_practice.id, "csrf_token": token})
    page = client.get("/patients").get_data(as_text=True)
    assert "Birch Family Medicine · alex" in page and ">Switch practice</a>" in page
    assert client.get("/practice/settings").status_code == 403
    assert ">Practice Settings</a>" not in page
    client.post("/practice/choose", data={"practice_id": practice.id, "csrf_token": token})
    assert client.get("/practice/settings").status_code == 200


def test_the_settings_page_needs_sign_in(client):
    response = client.get("/practice/settings")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")


def test_an_admin_sets_the_lifetime_and_new_pins_use_it(app, admin_client, practice, child, mailbox):
    issue(admin_client, child.id)
    response = admin_client.post(
        "/practice/settings", data={"pin_lifetime_days": "3", "csrf_token": admin_client.csrf_token}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/practice/settings"
    page = admin_client.get("/practice/settings").get_data(as_text=True)
    assert "Practice settings saved." in page and 'value="3"' in page
    with app.app_context():
        assert db.session.get(Practice, practice.id).pin_lifetime_days == 3

    assert issue(admin_client, child.id).status_code == 200
    before, after = credentials(app, child.id)
    assert before.expires_at - before.issued_at == timedelta(days=7)  # issued before the change
    assert after.expires_at - after.issued_at == timedelta(days=3)


@pytest.mark.parametrize("value", ["0", "91", "-3", "abc", "2.5", ""])
def test_a_lifetime_outside_1_to_90_days_is_422_beside_the_field(app, admin_client, practice, value):
    response = admin_client.post(
        "/practice/settings", data={"pin_lifetime_days": value, "csrf_token": admin_client.csrf_token}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert body.count("Enter a whole number of days from 1 to 90.") == 1
    field = re.search(r'<input\b[^>]*id="pin_lifetime_days"[^>]*>', body).group(0)
    assert 'aria-invalid="true"' in field and "pin_lifetime_days-error" in field
    with app.app_context():
        assert db.session.get(Practice, practice.id).pin_lifetime_days == 7


@pytest.mark.parametrize("value", ["1", "90"])
def test_the_edges_1_and_90_are_accepted(app, admin_client, practice, value):
    response = admin_client.post(
        "/practice/settings", data={"pin_lifetime_days": value, "csrf_token": admin_client.csrf_token}
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Practice, practice.id).pin_lifetime_days == int(value)


def test_the_settings_post_needs_csrf(app, admin_client, practice):
    assert admin_client.post("/practice/settings", data={"pin_lifetime_days": "30"}).status_code == 400
    with app.app_context():
        assert db.session.get(Practice, practice.id).pin_lifetime_days == 7
