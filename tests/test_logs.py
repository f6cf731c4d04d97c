"""Logs carry no PIN, no date of birth, no patient name and no email address."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from datetime import date

from werkzeug.serving import make_server

from tests.support import free_port, make_patient, pin_from
from tests.test_registration import issue


def test_the_whole_workflow_logs_no_phi_or_pin(app, staff_client, practice, mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # the test SMTP server's own lines
    patient = make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14), guardian_email="maria.nunez@example.com")
    staff_client.get("/patients?last=N%C3%BA%C3%B1ez&dob=2012-03-14")
    staff_client.get(f"/patients/{patient.id}")
    pin = pin_from(issue(staff_client, patient.id, email="maria.nunez@example.com").get_data(as_text=True))
    staff_client.get(f"/patients/{patient.id}")
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (pin, pin.replace("-", ""), "2012-03-14", "03/14/2012", "Núñez", "Sofía", "maria.nunez@example.com"):
        assert secret not in logged, f"{secret!r} reached the logs"


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
