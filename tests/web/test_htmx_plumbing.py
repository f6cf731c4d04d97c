"""blueprints/htmx.py: the reader of htmx's request headers and the response helpers, then the
events the Patient Registration window's fragments send the page."""

from __future__ import annotations

import json
from datetime import date

import pytest
from flask import Flask, make_response

from blueprints.htmx import (
    client_redirect,
    current_htmx,
    reswap,
    retarget,
    stop_polling,
    trigger_client_event,
)
from tests.support.builders import make_patient
from tests.support.html_readers import idempotency_key_from

HX = {"HX-Request": "true"}


@pytest.fixture
def bare_app():
    """No database: the helpers only need a request context."""
    return Flask(__name__)


def read(bare_app, headers: dict, attribute: str):
    with bare_app.test_request_context("/", headers=headers):
        htmx = current_htmx()
        return bool(htmx) if attribute == "bool" else getattr(htmx, attribute)


def test_a_plain_request_is_not_htmx(bare_app):
    assert read(bare_app, {}, "bool") is False
    for attribute in ("boosted", "history_restore_request", "wants_fragment", "automatic_refresh"):
        assert read(bare_app, {}, attribute) is False, attribute
    for attribute in ("current_url", "prompt", "target", "trigger", "trigger_name"):
        assert read(bare_app, {}, attribute) is None, attribute


def test_the_reader_names_every_header_htmx_sends(bare_app):
    headers = {
        **HX, "HX-Boosted": "true", "HX-Current-URL": "http://app.test/patients/7", "HX-Prompt": "yes",
        "HX-Target": "registration-window", "HX-Trigger": "send_to", "HX-Trigger-Name": "audience",
    }
    assert read(bare_app, headers, "bool") is True
    assert read(bare_app, headers, "boosted") is True
    assert read(bare_app, headers, "current_url") == "http://app.test/patients/7"
    assert read(bare_app, headers, "prompt") == "yes"
    assert read(bare_app, headers, "target") == "registration-window"
    assert read(bare_app, headers, "trigger") == "send_to"
    assert read(bare_app, headers, "trigger_name") == "audience"
    # Only htmx's own "true" counts, in any letter case of the header's name.
    assert read(bare_app, {"hx-request": "true"}, "bool") is True
    assert read(bare_app, {"HX-Request": "1"}, "bool") is False


def test_a_value_htmx_had_to_percent_encode_is_read_decoded(bare_app):
    headers = {**HX, "HX-Prompt": "N%C3%BA%C3%B1ez", "HX-Prompt-URI-AutoEncoded": "true", "HX-Trigger": "a%20b"}
    assert read(bare_app, headers, "prompt") == "Núñez"
    assert read(bare_app, headers, "trigger") == "a%20b"  # not flagged as encoded: left as sent


def test_a_history_restore_wants_the_whole_page(bare_app):
    assert read(bare_app, HX, "wants_fragment") is True
    restore = {**HX, "HX-History-Restore-Request": "true"}
    assert read(bare_app, restore, "history_restore_request") is True
    assert read(bare_app, restore, "wants_fragment") is False


def test_an_automatic_refresh_counts_only_on_a_fragment_request(bare_app):
    assert read(bare_app, {**HX, "X-Automatic-Refresh": "true"}, "automatic_refresh") is True
    # A full page is always a new look (and audited), whatever its headers.
    assert read(bare_app, {"X-Automatic-Refresh": "true"}, "automatic_refresh") is False
    assert read(bare_app, {**HX, "HX-History-Restore-Request": "true", "X-Automatic-Refresh": "true"},
                "automatic_refresh") is False
    assert read(bare_app, {**HX, "X-Automatic-Refresh": "false"}, "automatic_refresh") is False


def test_stop_polling_is_286(bare_app):
    with bare_app.test_request_context("/"):
        response = stop_polling("done")
    assert response.status_code == 286 and response.get_data(as_text=True) == "done"


def test_client_redirect_stops_a_self_refreshing_region_and_leaves_others_at_200(bare_app):
    with bare_app.test_request_context("/", headers=HX):
        clicked = client_redirect("/signin?ended=1")
    with bare_app.test_request_context("/", headers={**HX, "X-Automatic-Refresh": "true"}):
        polled = client_redirect("/signin?ended=1")
        forced = client_redirect("/signin", stop=False)
    assert clicked.status_code == 200 and clicked.headers["HX-Redirect"] == "/signin?ended=1"
    assert polled.status_code == 286 and polled.headers["HX-Redirect"] == "/signin?ended=1"
    assert forced.status_code == 200


@pytest.mark.parametrize("bad", ["/signin\r\nSet-Cookie: x=1", "/a\nb", "/a\x00b", "/a\x7fb"])
def test_header_values_with_control_characters_are_refused(bare_app, bad):
    with bare_app.test_request_context("/", headers=HX):
        with pytest.raises(ValueError):
            client_redirect(bad)
        with pytest.raises(ValueError):
            retarget(make_response(""), bad)
        with pytest.raises(ValueError):
            reswap(make_response(""), bad)


def test_retarget_and_reswap_set_their_headers_and_return_the_response(bare_app):
    with bare_app.test_request_context("/"):
        response = make_response("x")
        assert reswap(retarget(response, "#portal-summary"), "outerHTML") is response
    assert response.headers["HX-Retarget"] == "#portal-summary" and response.headers["HX-Reswap"] == "outerHTML"


def test_client_events_merge_by_timing_and_keep_what_is_there(bare_app):
    with bare_app.test_request_context("/"):
        response = make_response("x")
        response.headers["HX-Trigger"] = "already, there"  # htmx's plain list of names
        trigger_client_event(response, "saved")
        trigger_client_event(response, "counted", {"n": 2})
        trigger_client_event(response, "registration:opened", after="settle")
        trigger_client_event(response, "registration:issued", {"printLetter": True}, after="settle")
        trigger_client_event(response, "registration:issued", {"printLetter": False}, after="settle")
        trigger_client_event(response, "swapped", after="swap")
    assert json.loads(response.headers["HX-Trigger"]) == {"already": {}, "there": {}, "saved": {}, "counted": {"n": 2}}
    settle = json.loads(response.headers["HX-Trigger-After-Settle"])
    assert list(settle) == ["registration:opened", "registration:issued"]  # htmx fires them in this order
    assert settle["registration:issued"] == {"printLetter": False}
    assert json.loads(response.headers["HX-Trigger-After-Swap"]) == {"swapped": {}}


def test_client_event_params_are_json_with_no_control_character_left(bare_app):
    with bare_app.test_request_context("/"):
        response = make_response("x")
        trigger_client_event(response, "note\r\n", {"text": "line one\r\nSet-Cookie: x=1", "name": "Núñez"})
        with pytest.raises(ValueError):
            trigger_client_event(response, "late", after="later")
    value = response.headers["HX-Trigger"]
    assert value.isascii() and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in value)
    assert json.loads(value) == {"note\r\n": {"text": "line one\r\nSet-Cookie: x=1", "name": "Núñez"}}


# The Patient Registration window: its fragments tell the page what they bring.

@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


def settle_events(response) -> dict:
    return json.loads(response.headers.get("HX-Trigger-After-Settle", "{}"))


def issue(client, patient_id: int, key: str, htmx: bool = True, **fields):
    data = {"method": "pin", "access": "full", "send_by": "email", "email": "dana.carter@example.com",
            "action": "send", "idempotency_key": key, **fields}
    headers = {**(HX if htmx else {}), "X-CSRFToken": client.csrf_token}
    return client.post(f"/patients/{patient_id}/registration", data=data, headers=headers)


def test_the_window_opens_with_an_event_and_a_toggle_sends_none(staff_client, child):
    opened = staff_client.get(f"/patients/{child.id}/registration", headers=HX)
    assert opened.status_code == 200 and settle_events(opened) == {"registration:opened": {}}
    # Loaded as a page (no htmx), the window is open in place: no event.
    page = staff_client.get(f"/patients/{child.id}/registration")
    assert "HX-Trigger-After-Settle" not in page.headers
    toggled = staff_client.post(
        f"/patients/{child.id}/registration/form", data={"method": "question", "access": "full", "send_by": "email"},
        headers={**HX, "HX-Trigger": "method", "X-CSRFToken": staff_client.csrf_token},
    )
    assert toggled.status_code == 200 and "HX-Trigger-After-Settle" not in toggled.headers


def test_an_invalid_issue_sends_registration_invalid(staff_client, child):
    key = idempotency_key_from(staff_client.get(f"/patients/{child.id}/registration", headers=HX).get_data(as_text=True))
    invalid = issue(staff_client, child.id, key, email="not an address")
    assert invalid.status_code == 422 and settle_events(invalid) == {"registration:invalid": {}}
    assert 'aria-invalid="true"' in invalid.get_data(as_text=True)


@pytest.mark.parametrize("action, print_letter, open_portal", [
    ("send", False, False), ("print", True, False), ("complete", False, True),
])
def test_an_issued_result_says_whether_to_print_or_open_the_portal(staff_client, child, mailbox, action, print_letter,
                                                                  open_portal):
    key = idempotency_key_from(staff_client.get(f"/patients/{child.id}/registration", headers=HX).get_data(as_text=True))
    issued = issue(staff_client, child.id, key, action=action)
    assert issued.status_code == 200
    assert settle_events(issued) == {"registration:issued": {"printLetter": print_letter, "openPortal": open_portal},
                                     "history-changed": {}}  # the account page's History refreshes
    # The desk link stays in the body: no token rides in a header.
    assert "desk=" not in issued.headers["HX-Trigger-After-Settle"]
    # The same window again: 409 Already issued, with the notice retargeted and no event.
    again = issue(staff_client, child.id, key, action=action)
    assert again.status_code == 409 and "HX-Trigger-After-Settle" not in again.headers
    assert again.headers["HX-Retarget"] == "#registration-notice" and again.headers["HX-Reswap"] == "outerHTML"


def test_without_javascript_an_issued_result_sends_no_event(staff_client, child, mailbox):
    key = idempotency_key_from(staff_client.get(f"/patients/{child.id}/registration").get_data(as_text=True))
    issued = issue(staff_client, child.id, key, htmx=False, action="print")
    assert issued.status_code == 200 and "<html" in issued.get_data(as_text=True)
    assert "HX-Trigger-After-Settle" not in issued.headers and "HX-Retarget" not in issued.headers
