"""Staff sign-in and sign-out, CSRF, and the headers every page carries."""

from __future__ import annotations

from tests.support.builders import STAFF_PASSWORD, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.staff_screens import sign_in


def test_sign_in_page_has_the_contract_labels(client):
    body = client.get("/signin").get_data(as_text=True)
    assert 'for="username">Username<' in body and 'for="password">Password<' in body
    assert ">Sign in</button>" in body


def test_wrong_password_is_refused_with_one_message(app, client, practice):
    make_staff(app, practice)
    response = sign_in(client, password="wrong-password-here")
    assert response.status_code == 422
    assert "The username or password is not right." in response.get_data(as_text=True)
    unknown = sign_in(client, username="nobody")
    assert "The username or password is not right." in unknown.get_data(as_text=True)
    assert client.get("/patients").status_code == 302


def test_sign_in_lands_on_patient_administration_and_sign_out_ends_it(app, client, practice):
    make_staff(app, practice)
    response = sign_in(client)
    assert response.headers["Location"] == "/patients"
    page = client.get("/patients").get_data(as_text=True)
    assert ">Patient Administration</a>" in page and ">Sign out</button>" in page
    client.post("/signout", data={"csrf_token": csrf_token_from(page)})
    assert client.get("/patients").status_code == 302


def test_next_parameter_only_follows_local_paths(app, client, practice):
    make_staff(app, practice)
    token = csrf_token_from(client.get("/signin").get_data(as_text=True))
    data = {"username": "alex", "password": STAFF_PASSWORD, "csrf_token": token}
    assert client.post("/signin?next=//evil.example/x", data=data).headers["Location"] == "/patients"
    client.post("/signout", data={"csrf_token": token})
    token = csrf_token_from(client.get("/signin").get_data(as_text=True))
    data["csrf_token"] = token
    assert client.post("/signin?next=/patients?last=smith", data=data).headers["Location"] == "/patients?last=smith"


def test_sign_in_without_csrf_token_is_refused(app, client, practice):
    make_staff(app, practice)
    response = client.post("/signin", data={"username": "alex", "password": STAFF_PASSWORD})
    assert response.status_code == 400
    assert client.get("/patients").status_code == 302


def test_htmx_request_after_the_session_ends_redirects_the_whole_page(client):
    response = client.get("/patients?last=a", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/signin")


def test_every_page_carries_a_strict_csp_and_no_store(staff_client):
    response = staff_client.get("/patients")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_style_or_handler(staff_client):
    import re

    body = staff_client.get("/patients?last=a").get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)
    assert "<style" not in body and " style=" not in body
    assert not re.search(r"\son[a-z]+=", body)
    assert '"allowEval":false' in body and '"historyCacheSize":0' in body
