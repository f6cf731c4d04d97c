"""What staff do through the test client: sign in, open the Patient Registration window, issue,
revoke, read the Patient Account page."""

from __future__ import annotations

import html

from tests.support.builders import STAFF_PASSWORD, make_staff
from tests.support.html_readers import csrf_token_from, idempotency_key_from


def sign_in(client, username: str = "alex", password: str = STAFF_PASSWORD):
    page = client.get("/signin")
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post("/signin", data={"username": username, "password": password, "csrf_token": token})

HX = {"HX-Request": "true"}


def signed_in_admin(app, practice, username: str = "morgan"):
    """A practice admin's client, signed in, with the CSRF token its forms carry."""
    make_staff(app, practice, username, admin=True)
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    return client


def open_window(client, patient_id: int) -> str:
    response = client.get(f"/patients/{patient_id}/registration", headers=HX)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def issue(client, patient_id: int, key: str | None = None, **fields):
    if key is None:
        key = idempotency_key_from(open_window(client, patient_id))
    data = {
        "method": "pin", "access": "full", "send_by": "email", "email": "dana.carter@example.com",
        "action": "send", "idempotency_key": key,
    }
    data.update(fields)
    return client.post(
        f"/patients/{patient_id}/registration", data=data, headers={**HX, "X-CSRFToken": client.csrf_token}
    )


def revoke_url(patient_id: int, credential_id: int) -> str:
    return f"/patients/{patient_id}/credentials/{credential_id}/revoke"


def revoke(client, patient_id: int, credential_id: int, reason: str | None = "Parent asked", audience="guardian", htmx=True):
    data = {} if reason is None else {f"revoke-{audience}-reason": reason}
    if htmx:
        return client.post(revoke_url(patient_id, credential_id), data=data, headers={**HX, "X-CSRFToken": client.csrf_token})
    return client.post(revoke_url(patient_id, credential_id), data={**data, "csrf_token": client.csrf_token})


def account_page(client, patient_id: int) -> str:
    return html.unescape(client.get(f"/patients/{patient_id}").get_data(as_text=True))
