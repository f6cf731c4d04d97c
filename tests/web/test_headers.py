"""Security headers on every page (blueprints/security_headers.py) and the session cookie's flags,
standalone and embedded (FRAME_ANCESTORS names the host portal's origin).

Every GET rule of `app.url_map` is called, as a full page and as an htmx fragment, by a signed-in
staff member (an admin, so the Practice Settings pages show rather than 403) with the practice's
own objects for its ids, and the Patient Portal's by a signed-in parent as well. Each response
must carry a CSP with `frame-ancestors` and `script-src 'self'`, `X-Content-Type-Options: nosniff`,
`Referrer-Policy: same-origin`, and (outside /static/) `Cache-Control: no-store`."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, UUIDConverter

from blueprints.extensions import db
from models import RegistrationCredential, WelcomeMessage
from services.delivery.message_templates import KIND_LABELS
from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import csrf_token_from, pin_from
from tests.support.portal import register
from tests.support.staff_screens import HX, issue, sign_in

EMBEDDING_HOST = "http://localhost:8123"
# Non-id arguments this test fills: each message-template kind; one real static file.
FILLERS = {"kind": list(KIND_LABELS), "filename": ["css/app.css"]}
KNOWN_ID_ARGUMENTS = ("patient_id", "credential_id", "message_id")
PARENT_BLUEPRINTS = {"portal"}
# Pages that are expected not to be a 200 for a signed-in staff member (or parent), and why.
ENDS_THE_SESSION = {"auth.launch"}
NOT_A_PAGE = {
    "patient_admin.home": 302,  # / redirects to Patient Administration
    "auth.launch": 403,  # no launch token
    "practice_settings.audit_export": 422,  # no date range: the export page says so
    "portal.reset_password": 410,  # no reset token: the link-no-longer-valid page
}


def directives(policy: str) -> dict[str, str]:
    parsed = {}
    for directive in policy.split(";"):
        name, _, value = directive.strip().partition(" ")
        if name:
            parsed[name.lower()] = value.strip()
    return parsed


def header_problems(response, path: str, frame_ancestors: str) -> list[str]:
    """What is wrong with this response's security headers (empty: nothing)."""
    problems = []
    policy = response.headers.get("Content-Security-Policy")
    if policy is None:
        return ["no Content-Security-Policy"]
    csp = directives(policy)
    if "script-src 'self'" not in policy or {"'unsafe-inline'", "'unsafe-eval'"} & set(csp.get("script-src", "").split()):
        problems.append(f"script-src is {csp.get('script-src')!r}, not 'self'")
    if csp.get("frame-ancestors") != frame_ancestors:
        problems.append(f"frame-ancestors is {csp.get('frame-ancestors')!r}, not {frame_ancestors!r}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"X-Content-Type-Options is {response.headers.get('X-Content-Type-Options')!r}")
    if response.headers.get("Referrer-Policy") != "same-origin":
        problems.append(f"Referrer-Policy is {response.headers.get('Referrer-Policy')!r}")
    if not path.startswith("/static/") and response.headers.get("Cache-Control") != "no-store":
        problems.append(f"Cache-Control is {response.headers.get('Cache-Control')!r}, not no-store")
    return problems


def signed_in_staff(app):
    client = app.test_client()
    signed = sign_in(client)
    assert signed.status_code == 302
    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    return client, signed


@pytest.fixture
def world(app, practice, mailbox):
    """An admin of the practice signed in; a patient with a PIN sent by email (a credential and
    a welcome message), and a patient linked to a parent who is signed in to the portal."""
    make_staff(app, practice, admin=True)
    staff, signed = signed_in_staff(app)
    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    assert issue(staff, child.id, email="dana.carter@example.com").status_code == 200
    linked = make_patient(app, practice, "Leo", "Carter", date(2016, 1, 2))
    pin = pin_from(issue(staff, linked.id, send_by="none").get_data(as_text=True))
    parent = app.test_client()
    assert register(parent, pin, "2016-01-02", email="dana.carter@example.com").status_code == 303
    with app.app_context():
        credential = db.session.scalar(select(RegistrationCredential).where(RegistrationCredential.patient_id == child.id))
        message = db.session.scalar(select(WelcomeMessage).where(WelcomeMessage.credential_id == credential.id))
        ids = {"patient_id": child.id, "credential_id": credential.id, "message_id": message.id}
        db.session.remove()
    return SimpleNamespace(
        staff=staff, parent=parent, sign_in_response=signed,
        ids={"staff": ids, "parent": {**ids, "patient_id": linked.id}},
    )


def get_requests(app, world):
    """(actor, endpoint, url) for every GET rule, its arguments filled; and the rules skipped."""
    requests, skipped = [], []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if "GET" not in (rule.methods or ()):
            continue
        unknown_ids = [
            name for name in rule.arguments
            if (isinstance(rule._converters.get(name), (IntegerConverter, UUIDConverter)) or name.endswith("_id"))
            and name not in KNOWN_ID_ARGUMENTS
        ]
        assert not unknown_ids, f"{rule.rule} takes {unknown_ids}: give the header test a real object for it"
        unfillable = [name for name in rule.arguments if name not in KNOWN_ID_ARGUMENTS and name not in FILLERS]
        if unfillable:
            skipped.append(f"GET {rule.rule} ({rule.endpoint}): cannot fill {unfillable}")
            continue
        actors = ["staff"]
        if rule.endpoint.split(".")[0] in PARENT_BLUEPRINTS:
            actors.append("parent")
        other = sorted(name for name in rule.arguments if name in FILLERS)
        choices = [[]]
        for name in other:  # every value of each non-id argument (each template kind)
            choices = [chosen + [(name, value)] for chosen in choices for value in FILLERS[name]]
        for actor in actors:
            for chosen in choices:
                values = {name: world.ids[actor][name] for name in rule.arguments if name in KNOWN_ID_ARGUMENTS}
                values.update(chosen)
                requests.append((actor, rule.endpoint, rule.build(values)[1]))
    return requests, skipped


def check_every_get_route(app, world, frame_ancestors: str) -> list[str]:
    """Call each GET route as a page and as an htmx fragment; returns the report lines."""
    clients = {"staff": world.staff, "parent": world.parent}
    requests, skipped = get_requests(app, world)
    problems, report = [], []
    # Error pages carry them too: an unknown page, an unknown patient.
    for url in ("/no-such-page", "/patients/987654"):
        response = world.staff.get(url)
        assert response.status_code == 404
        problems.extend(f"GET {url} (404): {problem}" for problem in header_problems(response, url, frame_ancestors))
        report.append(f"{response.status_code} GET {url} as staff")
    # Called last (a refused launch used to end the browser's staff session; it no longer does).
    requests.sort(key=lambda request: request[1] in ENDS_THE_SESSION)
    for actor, endpoint, url in requests:
        for htmx in (False, True):
            response = clients[actor].get(url, headers=HX if htmx else {})
            expected = {NOT_A_PAGE.get(endpoint, 200)}
            if actor == "staff" and endpoint.split(".")[0] in PARENT_BLUEPRINTS:
                expected = {200, 302, NOT_A_PAGE.get(endpoint, 200)}  # staff are no parent: most portal pages send to its sign-in
            where = f"GET {url} as {actor}{' (htmx)' if htmx else ''}"
            if response.status_code not in expected:
                problems.append(f"{where}: {response.status_code}, expected {sorted(expected)}")
            problems.extend(f"{where}: {problem}" for problem in header_problems(response, url, frame_ancestors))
            if not htmx:
                report.append(f"{response.status_code} {where}")
            response.close()  # a static file's response holds the file open
    assert not problems, "security headers missing or wrong:\n" + "\n".join(problems)
    assert len(requests) >= 18, requests  # the GET routes found today, filled (kinds x3, portal x2)
    return report + [f"skipped: {text}" for text in skipped]


def session_cookie(response, name: str) -> dict[str, str | bool]:
    """The Set-Cookie of the session cookie, as {attribute (lower case): value or True}."""
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    attributes: dict[str, str | bool] = {}
    for part in header.split(";")[1:]:
        key, sep, value = part.strip().partition("=")
        attributes[key.lower()] = value if sep else True
    return attributes


def describe(cookie: dict[str, str | bool]) -> str:
    return "; ".join(key if value is True else f"{key}={value}" for key, value in cookie.items())


def print_headers(title: str, response) -> None:
    print(f"\n{title}: {response.status_code}")
    for key, value in sorted(response.headers.items()):
        if key == "Set-Cookie":
            value = value.split("=", 1)[0] + "=…" + value[value.index(";"):] if ";" in value else "…"
        print(f"  {key}: {value}")


def test_every_get_route_carries_the_security_headers(app, world):
    account = f"/patients/{world.ids['staff']['patient_id']}"
    page = world.staff.get(account)  # before the walk: its refused /launch ends the staff session
    assert page.status_code == 200 and header_problems(page, account, "'self'") == []
    print_headers(f"Headers of the Patient Account page (GET {account})", page)
    report = check_every_get_route(app, world, "'self'")
    print("\nGET routes checked (default FRAME_ANCESTORS), each also as an htmx request:")
    for line in report:
        print(f"  {line}")


def test_static_files_carry_the_headers_but_may_be_cached(app, world):
    response = world.staff.get("/static/css/app.css")
    assert response.status_code == 200
    assert header_problems(response, "/static/css/app.css", "'self'") == []
    print_headers("Headers of /static/css/app.css", response)
    response.close()


def test_standalone_session_cookie_is_lax_httponly_not_partitioned(app, world):
    cookie = session_cookie(world.sign_in_response, app.config["SESSION_COOKIE_NAME"])
    print(f"\nSession cookie set at sign-in (standalone): {describe(cookie)}")
    assert cookie.get("samesite") == "Lax"
    assert cookie.get("httponly") is True
    assert "partitioned" not in cookie


class TestEmbedded:
    """Inside the host portal's iframe: FRAME_ANCESTORS names its origin."""

    @pytest.fixture
    def app_config(self):
        return {"FRAME_ANCESTORS": EMBEDDING_HOST}

    def test_every_get_route_lets_only_the_host_frame_it(self, app, world):
        page = world.staff.get("/patients")  # before the walk: its refused /launch ends the staff session
        assert page.status_code == 200
        csp = directives(page.headers["Content-Security-Policy"])
        assert csp["frame-ancestors"] == EMBEDDING_HOST and csp["script-src"] == "'self'"
        print_headers("Headers of Patient Administration, embedded (GET /patients)", page)
        report = check_every_get_route(app, world, EMBEDDING_HOST)
        assert len(report) >= 20

    def test_the_session_cookie_is_a_partitioned_cross_site_cookie(self, app, world):
        cookie = session_cookie(world.sign_in_response, app.config["SESSION_COOKIE_NAME"])
        print(f"\nSession cookie set at sign-in (embedded): {describe(cookie)}")
        assert cookie.get("secure") is True
        assert cookie.get("httponly") is True
        assert cookie.get("samesite") == "None"
        assert cookie.get("partitioned") is True


CHROME_ACCEPT_ENCODING = "gzip, deflate, br, zstd"


def test_static_files_go_out_compressed_and_cached_by_version(app, client):
    import re as regex
    from pathlib import Path

    import brotli

    page = client.get("/signin", headers={"Accept-Encoding": CHROME_ACCEPT_ENCODING})
    html = page.get_data(as_text=True)
    assert "Content-Encoding" not in page.headers  # HTML holds CSRF tokens (and PINs): never compressed
    urls = regex.findall(r'(?:src|href)="(/static/[^"?]+)\?v=([0-9a-f]{16})"', html)
    assert sorted(path for path, _ in urls) == ["/static/css/app.css", "/static/js/app.js", "/static/vendor/htmx.min.js"]
    for path, version in urls:
        on_disk = Path(app.static_folder, path.removeprefix("/static/")).read_bytes()
        response = client.get(f"{path}?v={version}", headers={"Accept-Encoding": CHROME_ACCEPT_ENCODING})
        body = response.get_data()
        assert response.status_code == 200 and response.headers["Content-Encoding"] == "br"
        assert brotli.decompress(body) == on_disk and len(body) < len(on_disk) / 2
        assert response.headers["Cache-Control"] == "public, max-age=31536000"
        assert "Accept-Encoding" in response.headers["Vary"]
        # A stale or missing version is not cached for long, and revalidates by ETag.
        plain = client.get(f"{path}?v=0000000000000000", headers={"Accept-Encoding": CHROME_ACCEPT_ENCODING})
        assert plain.headers["Cache-Control"] == "no-cache"
        again = client.get(path, headers={"Accept-Encoding": CHROME_ACCEPT_ENCODING, "If-None-Match": plain.headers["ETag"]})
        assert again.status_code == 304 and again.get_data() == b""
        # A client that takes no compression gets the file as it is.
        identity = client.get(f"{path}?v={version}", headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in identity.headers and identity.get_data() == on_disk
        for r in (response, plain, again, identity):
            r.close()
