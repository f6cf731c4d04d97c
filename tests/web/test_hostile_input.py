"""No 5xx, whatever a client sends. Walks `app.url_map` and sends every route, as an anonymous
client, the practice's admin and a signed-in parent, a corpus of hostile values: in the id path
segments, in every query and form field (with a valid CSRF token, so they reach the forms), in
forged htmx headers, and with methods the route does not take (405, which must say `Allow`).
Runs on SQLite and PostgreSQL (PostgreSQL's integer ends at 2**31-1 and its text refuses NUL)."""

from __future__ import annotations

import secrets
from urllib.parse import quote

import pytest

from tests.support.fake_twilio import CALLBACK_PATH, signature, twilio_settings
from tests.support.launch import LAUNCH_SECRET, claims, launch_token
from tests.support.network import free_port
from tests.support.routes import KNOWN_IDS, build_sample_world, walk_routes

LIMITS_OFF = {"SIGNIN_RATE_LIMIT": "100000/minute", "PORTAL_RATE_LIMIT": "100000/minute", "LAUNCH_SECRET": LAUNCH_SECRET}


class Raw(str):
    """A value sent percent-encoded as written (invalid UTF-8), not encoded again."""


HUGE = "9" * 20  # above 2**63
# Each value goes into every query and form field at once; LONG also one field at a time (beside
# valid values), so a field without a length check cannot hide behind another's.
CORPUS = [
    "\x00", "a\x00b", HUGE, "9223372036854775807", "2147483648", "-1", "0",
    "\x01\x1b[31m\x7f\u202e", Raw("%C3%28%FF%FE"), "x" * 5_000, "{{ 7*7 }}<script>'\"",
]
LONG = "x" * 100_000
HOSTILE_IDS = [HUGE, "9223372036854775808", "2147483648", "-1", "0", "%00", "1%00", "%C3%28", "1e3"]
# Forged htmx headers, one set per request in turn (no header set at all among them).
HEADER_SETS = [
    {},
    {"HX-Request": "true", "HX-Target": "x\"><script>", "HX-Current-URL": "javascript:alert(1)", "HX-Trigger": "%00"},
    {"HX-Request": "true", "HX-History-Restore-Request": "true", "HX-Current-URL": "%C3%28%FF",
     "HX-Current-URL-URI-AutoEncoded": "true", "HX-Trigger-Name": "y" * 8000, "X-Automatic-Refresh": "true"},
    {"HX-Request": "junk", "HX-Boosted": "true", "HX-Target": "", "HX-Prompt": "\u202e" * 100},
]
FIELDS = [
    "last", "first", "dob", "status", "page", "mode", "email", "next", "ended", "token", "vq", "desk",
    "from", "to", "v", "username", "password", "is_admin", "practice_id", "pin_lifetime_days",
    "subject", "body", "action", "reason", "revoke-guardian-reason", "revoke-minor-reason",
    "first_name", "last_name", "method", "question", "answer", "access", "send_by", "cell", "carrier",
    "send_to", "date_of_birth", "pin", "accept_terms", "idempotency_key", "audience", "confirm",
]
VALID = {
    "last": "carter", "first": "emma", "dob": "2018-05-17", "status": "all", "page": "1", "email": "dana.carter@example.com",
    "username": "robin2", "password": "a long enough password 42", "practice_id": "1", "pin_lifetime_days": "7",
    "subject": "Hello", "body": "Your PIN", "action": "preview", "reason": "Parent asked",
    "revoke-guardian-reason": "Parent asked", "first_name": "Emma", "last_name": "Carter", "method": "pin",
    "access": "full", "send_by": "none", "send_to": "guardian", "date_of_birth": "2018-05-17", "pin": "ZZZZ-ZZZZ",
    "accept_terms": "y", "audience": "guardian",
}
WRONG_METHODS = ("PUT", "DELETE", "PATCH")
SESSION_CHANGING = {"auth.sign_in", "auth.launch", "auth.sign_out", "portal.sign_in", "portal.register", "portal.sign_out"}


def encoded(pairs: dict[str, str]) -> str:
    return "&".join(f"{quote(key, safe='')}={value if isinstance(value, Raw) else quote(value, safe='')}"
                    for key, value in pairs.items())


class Walk:
    def __init__(self, world):
        self.world = world
        self.failures: list[str] = []
        self.sent = 0
        self.statuses: dict[int, int] = {}

    def send(self, actor: str, method: str, url: str, fields: dict[str, str], label: str):
        client = self.world.clients()[actor]
        headers = dict(HEADER_SETS[self.sent % len(HEADER_SETS)])
        self.sent += 1
        if method == "GET":
            separator = "&" if "?" in url else "?"
            args = dict(path=url + separator + encoded(fields), method=method)
        else:
            body = encoded({**fields, "csrf_token": client.csrf_token})
            args = dict(path=url, method=method, data=body, content_type="application/x-www-form-urlencoded")
            headers["X-CSRFToken"] = client.csrf_token
        try:
            response = client.open(**args, headers=headers)
        except Exception as error:  # TESTING propagates a view's exception: a 500 in production
            self.failures.append(f"{method} {url} as {actor} ({label}): raised {type(error).__name__}: {str(error)[:300]}")
            return None
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            self.failures.append(f"{method} {url} as {actor} ({label}): {response.status_code}")
        return response


def walk_corpus(walk: Walk, route, method: str, actor: str) -> None:
    """The corpus in every field at once, then each hostile id in each id segment."""
    url = route.url(walk.world.ids)
    for value in CORPUS:
        walk.send(actor, method, url, dict.fromkeys(FIELDS, value), f"every field {value[:12]!r}")
    for name in route.id_arguments:
        for hostile in HOSTILE_IDS:
            walk.send(actor, method, route.url(walk.world.ids, **{name: hostile}), dict(VALID), f"{name}={hostile}")


def walk_targeted_values(walk: Walk, routes) -> None:
    """Values that only a particular field or token can carry, and the wrong methods."""
    # Search and the page number alone (a bad date of birth would stop the search before it).
    for page in (HUGE, "9223372036854775807", "2147483648", "-5", "0" * 50 + "1", "1" * 5000):
        for query in ({"last": "carter", "page": page}, {"mode": "user", "email": "dana", "page": page}):
            walk.send("staff", "GET", "/patients", query, f"page={page[:24]}")
    for practice_id in (HUGE, "2147483648", "-1", "0", "1" * 5000, "\x00"):
        walk.send("staff", "POST", "/practice/choose", {"practice_id": practice_id}, f"practice_id={practice_id[:24]}")
    # Launch tokens, validly signed, whose claims are hostile.
    for value in ("\x00", "a\x00b", LONG, HUGE):
        for claim in ("staff", "practice", "jti"):
            token = launch_token(claims(**{claim: value if claim != "jti" else value + secrets.token_urlsafe(16)}))
            walk.send("anonymous", "GET", "/launch", {"token": token}, f"launch claim {claim}={value[:8]!r}")
    # Methods no route takes: 405, carrying Allow.
    for route in routes:
        for method in WRONG_METHODS:
            if method in route.methods:
                continue
            response = walk.send("staff", method, route.url(walk.world.ids), {}, "wrong method")
            if response is not None and (response.status_code != 405 or not response.headers.get("Allow")):
                walk.failures.append(f"{method} {route.rule}: {response.status_code}, Allow={response.headers.get('Allow')!r}")


@pytest.mark.parametrize("app_config", [LIMITS_OFF])
def test_no_route_answers_5xx_to_hostile_input(app, mailbox):
    world = build_sample_world(app)
    walk = Walk(world)
    routes = [route for route in walk_routes(app, KNOWN_IDS) if route.endpoint != "static"]
    # Routes that may replace a client's session (the walk itself adds a staff login that the
    # sign-in then accepts) go last, sign-outs at the very end: the clients stay signed in till then.
    last = sorted((route for route in routes if route.endpoint in SESSION_CHANGING), key=lambda route: "sign_out" in route.endpoint)
    others = [route for route in routes if route not in last]
    for group in (others, last):
        for route in group:
            for method in route.methods:
                for actor in world.clients():
                    walk_corpus(walk, route, method, actor)
                if method != "GET":  # one field at a time, beside valid ones, for the signed-in clients
                    for actor in ("staff", "parent") if route.endpoint.startswith("portal.") else ("staff",):
                        for name in FIELDS:
                            fields = {**VALID, "idempotency_key": secrets.token_urlsafe(24), name: LONG}
                            walk.send(actor, method, route.url(world.ids), fields, f"{name}=100 KB")
        if group is others:
            walk_targeted_values(walk, others)

    print(f"\nhostile input: {len(routes)} routes, {walk.sent} requests; answers {dict(sorted(walk.statuses.items()))}")
    assert len(routes) >= 27  # every rule but static (and the Outbox, absent with a mail server)
    assert not walk.failures, f"{len(walk.failures)} answers were 5xx or wrong:\n" + "\n".join(walk.failures[:80])


def test_a_405_says_which_methods_the_route_takes(client):
    response = client.put("/signin")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert "This page does not accept that kind of request." in response.get_data(as_text=True)


def test_a_nul_byte_anywhere_is_refused_before_any_view(client, staff_client):
    assert client.post("/signin", data={"username": "alex\x00", "password": "x"}).status_code == 400
    assert staff_client.get("/patients?last=car%00ter").status_code == 400
    assert staff_client.get("/patients", headers={"HX-Current-URL": "http://x/\x00"}).status_code == 400
    staff_client.set_cookie("theme", "a\x00b")
    assert staff_client.get("/patients").status_code == 400


WEBHOOK_FIELDS = ["MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "ErrorCode", "AccountSid", "From", "To"]


@pytest.mark.parametrize("app_config", [twilio_settings(f"http://127.0.0.1:{free_port()}")])
def test_the_twilio_webhook_answers_hostile_signed_input_without_5xx(app, client):
    """The walk above reaches the webhook unsigned (403); signed, every hostile value gets as
    far as the service call, and still no 5xx: 204 or 400 (403 for what the signature cannot cover)."""
    failures, answers = [], {}
    sid = "SM" + "0" * 32
    for value in [v for v in CORPUS if not isinstance(v, Raw)] + [LONG]:
        forms = [dict.fromkeys(WEBHOOK_FIELDS, value)]
        forms += [{"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003", name: value}
                  for name in WEBHOOK_FIELDS]
        for form in forms:
            for sign in (signature(form), value[:200], None):
                headers = {} if sign is None else {"X-Twilio-Signature": sign}
                try:
                    response = client.post(CALLBACK_PATH, data=form, headers=headers)
                except Exception as error:  # a 500 in production
                    failures.append(f"{value[:12]!r}: raised {type(error).__name__}")
                    continue
                answers[response.status_code] = answers.get(response.status_code, 0) + 1
                if response.status_code not in (204, 400, 403):
                    failures.append(f"{value[:12]!r} in {sorted(form)[:3]}: {response.status_code}")
                if response.headers.get("Set-Cookie"):
                    failures.append(f"{value[:12]!r}: set a cookie")
    print(f"\ntwilio webhook: answers {dict(sorted(answers.items()))}")
    assert not failures, "\n".join(failures[:40])
    assert answers.get(204) and answers.get(400) and answers.get(403)
