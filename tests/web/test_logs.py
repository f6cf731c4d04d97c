"""Logs carry no PIN, no date of birth, no patient name and no email address."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from datetime import date

from werkzeug.serving import make_server

from tests.support.builders import make_patient
from tests.support.html_readers import pin_from
from tests.support.launch import launch_token
from tests.support.network import free_port
from tests.support.portal import register
from tests.support.staff_screens import issue


def test_the_whole_workflow_logs_no_phi_or_pin(app, staff_client, practice, mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # the test SMTP server's own lines
    patient = make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14), guardian_email="maria.nunez@example.com")
    staff_client.get("/patients?last=N%C3%BA%C3%B1ez&dob=2012-03-14")
    staff_client.get(f"/patients/{patient.id}")
    pin = pin_from(issue(staff_client, patient.id, email="maria.nunez@example.com").get_data(as_text=True))
    staff_client.get(f"/patients/{patient.id}")
    # The rest of the workflow: a failed and a good redemption, revoke with a reason that names
    # someone, print, a basic-info change, the worker, an embedded launch, sign-out.
    parent = app.test_client()
    register(parent, "ZZZZ-ZZZZ", "2012-03-14", email="maria.nunez@example.com")
    register(parent, pin, "2012-03-14", email="maria.nunez@example.com")
    second = pin_from(issue(staff_client, patient.id, send_by="none", action="print").get_data(as_text=True))
    staff_client.post(
        f"/patients/{patient.id}/credentials/2/revoke",
        data={"revoke-guardian-reason": "Valentina Núñez asked for paper"},
        headers={"HX-Request": "true", "X-CSRFToken": staff_client.csrf_token},
    )
    staff_client.post(
        f"/patients/{patient.id}/basic-info",
        data={"first_name": "Sofía", "last_name": "Núñez-Ruiz", "csrf_token": staff_client.csrf_token},
    )
    app.test_cli_runner().invoke(args=["outbox", "send"])
    app.config["LAUNCH_SECRET"] = "shared-launch-secret"
    token = launch_token({"staff": "alex", "practice": "Cedar Pediatrics", "jti": "j" * 20}, secret="shared-launch-secret")
    app.test_client().get("/launch?token=" + token)
    staff_client.post("/signout", data={"csrf_token": staff_client.csrf_token})
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (
        pin, pin.replace("-", ""), second, "2012-03-14", "03/14/2012", "Núñez", "Nunez", "Sofía",
        "maria.nunez@example.com", "Valentina", token, LAUNCH_SECRET_TEXT,
    ):
        assert secret not in logged, f"{secret!r} reached the logs"


LAUNCH_SECRET_TEXT = "shared-launch-secret"


def test_json_log_lines_carry_the_path_and_ids_but_never_the_query(app, staff_client):
    import json

    from blueprints.logs import JsonFormatter

    record = logging.LogRecord("app", logging.INFO, __file__, 1, "searched %s", ("/patients?last=Nunez",), None)
    with app.test_request_context("/patients?last=Nunez&dob=2012-03-14"):
        line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["path"] == "/patients" and entry["method"] == "GET"
    assert entry["message"] == "searched /patients" and "Nunez" not in line and entry["time"].endswith("+00:00")


def test_access_log_records_the_path_without_the_query_string(app, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/patients?last=Nunez&dob=2012-03-14&token=secret-token-value"
        request = urllib.request.Request(url)
        opener = urllib.request.build_opener(NoRedirect())
        try:
            opener.open(request, timeout=5)
        except urllib.error.HTTPError:
            pass
        # The handler thread logs after it has answered: give it a moment.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(r.name == "werkzeug" for r in caplog.records):
            time.sleep(0.05)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("GET /patients HTTP/1.1" in line for line in lines), lines
    assert not any("Nunez" in line or "2012-03-14" in line or "secret-token-value" in line for line in lines)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
