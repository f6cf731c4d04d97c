"""A fake of Twilio's Messages endpoint on loopback, which the real `twilio` SDK reaches through
TWILIO_API_URL; and Twilio's side of a status callback: the parameters signed with the SDK's own
RequestValidator and the test's auth token, posted to the app.

The fake answers `POST /2010-04-01/Accounts/{SID}/Messages.json` as Twilio does: Basic auth with
the account SID and auth token (401 otherwise), a form body, 201 with the new message's JSON
(`sid` SM + 32 hex digits, `status` queued). A test can make it refuse the next texts with
Twilio's error JSON (HTTP 400, {"code": 21610, ...}) or answer slowly."""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio.request_validator import RequestValidator

from tests.support.network import free_port

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-" + "5" * 16
SENDER = "+16175550100"
PUBLIC_URL = "https://pins.cedar.example"
CALLBACK_PATH = "/webhooks/twilio/status"
CALLBACK_URL = PUBLIC_URL + CALLBACK_PATH
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
REQUEST_SECONDS = 30

# Twilio's words for the create-call refusals the tests use.
ERROR_MESSAGES = {
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21211: "Invalid 'To' Phone Number",
}


@dataclass
class Created:
    """One text the fake took: its SID and the form the SDK posted (one value per name)."""

    sid: str
    form: dict[str, str]


@dataclass
class FakeTwilio:
    port: int = field(default_factory=free_port)
    texts: list[Created] = field(default_factory=list)
    # The next create calls' refusals, in turn: a Twilio error code (HTTP 400 with Twilio's error
    # JSON), or (HTTP status, body) as given.
    refusals: list[int | tuple[int, str]] = field(default_factory=list)
    delay_seconds: float = 0.0
    # Called with each text the fake took, before it answers the create call: Twilio's receipts
    # can arrive while the app still waits for that answer.
    on_create: Callable[[Created], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                try:
                    fake._answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the SDK gave up waiting (the slow fake): nobody reads the answer

            def log_message(self, format, *args):  # the tests read the app's logs, not the fake's
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode()
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if urllib.parse.urlsplit(handler.path).path != MESSAGES_PATH:
            return _json(handler, 404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        if handler.headers.get("Authorization") != expected:
            return _json(handler, 401, {"code": 20003, "message": "Authenticate", "status": 401})
        form = {name: values[-1] for name, values in urllib.parse.parse_qs(body, keep_blank_values=True).items()}
        with self.lock:
            refusal = self.refusals.pop(0) if self.refusals else None
            if refusal is None:
                sid = "SM" + secrets.token_hex(16)
                self.texts.append(Created(sid, form))
        if refusal is None and self.on_create is not None:
            self.on_create(self.texts[-1])
        if isinstance(refusal, tuple):
            status, text = refusal
            handler.send_response(status)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(len(text.encode())))
            handler.end_headers()
            handler.wfile.write(text.encode())
            return None
        if refusal is not None:
            message = ERROR_MESSAGES.get(refusal, "Error")
            return _json(handler, 400, {"code": refusal, "message": message, "status": 400,
                                        "more_info": f"https://www.twilio.com/docs/errors/{refusal}"})
        return _json(handler, 201, {
            "sid": sid, "account_sid": ACCOUNT_SID, "to": form.get("To"), "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"),
            "status": "queued", "num_segments": "1", "num_media": "0", "direction": "outbound-api",
            "api_version": "2010-04-01", "price": None, "price_unit": "USD", "error_code": None,
            "error_message": None, "date_created": "Wed, 02 Dec 2026 19:00:00 +0000",
            "date_updated": "Wed, 02 Dec 2026 19:00:00 +0000", "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json", "subresource_uris": {},
        })


def _json(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def twilio_settings(api_url: str, **extra) -> dict:
    """The app's settings for texts through the fake."""
    return {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM": SENDER,
            "TWILIO_API_URL": api_url, "PUBLIC_URL": PUBLIC_URL, **extra}


def signature(params: dict[str, str], url: str = CALLBACK_URL, token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for these parameters, as Twilio computes it (the SDK's own algorithm)."""
    return RequestValidator(token).compute_signature(url, params)


def callback(sid: str, status: str, error_code: int | None = None) -> dict[str, str]:
    """A status callback's parameters, as Twilio posts them."""
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": SENDER,
              "MessageStatus": status, "SmsStatus": status, "ApiVersion": "2010-04-01"}
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def post_callback(client, params: dict[str, str], sign: str | None = "right"):
    """Posts a callback with the Flask test client. `sign`: "right", None (no header), or the
    header's value as given."""
    headers = {} if sign is None else {"X-Twilio-Signature": signature(params) if sign == "right" else sign}
    return client.post(CALLBACK_PATH, data=params, headers=headers)


@dataclass
class HttpAnswer:
    status: int
    headers: http.client.HTTPMessage
    text: str


def post_callback_over_http(port: int, params: dict[str, str], sign: str | None = "right") -> HttpAnswer:
    """Posts a callback to an app served on loopback `port`, over HTTP, as Twilio does."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign is not None:
        headers["X-Twilio-Signature"] = signature(params) if sign == "right" else sign
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_SECONDS)
    try:
        connection.request("POST", CALLBACK_PATH, body=urllib.parse.urlencode(params), headers=headers)
        response = connection.getresponse()
        return HttpAnswer(response.status, response.headers, response.read().decode())
    finally:
        connection.close()
