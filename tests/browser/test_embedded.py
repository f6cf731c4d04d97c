"""The staff screens in a real cross-site iframe, in Chromium with third-party cookies blocked.

A host page on one loopback origin (`http://localhost:P1`, the "practice's portal": a tiny Flask
app of its own that mints launch tokens as the outside contract (README) says) frames the app on another
(`http://127.0.0.1:P2`, the live server). localhost and 127.0.0.1 are different sites, so the
app's session cookie is a third-party cookie: it survives only because it is Partitioned (CHIPS).

- the whole workflow inside the frame: launch by token, search, Select, Register Patient, issue
  a PIN (Do not send PIN) and see it; the frame tells the host its height by postMessage;
- a negative control: the same launch with an unpartitioned cookie loses the session inside the
  frame in this browser (and keeps it in one that allows third-party cookies), which proves the
  blocking is real;
- a host origin that FRAME_ANCESTORS does not list is refused framing (CSP frame-ancestors)."""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pytest
from flask import Flask, Response
from itsdangerous import URLSafeTimedSerializer
from playwright.sync_api import BrowserContext, Frame, Page, expect
from sqlalchemy import select
from werkzeug.serving import make_server

from blueprints.extensions import db
from blueprints.security_headers import postmessage_targets
from models import AuditEvent, StaffSession
from tests.support.browser_pages import credential_rows, open_account, open_registration, radio, shown_pin
from tests.support.chromium import CHROMIUM_ARGS, CSP_REPORTER, EXPECTED_CONSOLE_ERROR, ConsoleLog

pytestmark = pytest.mark.browser

# Third-party cookies are blocked by the profile's cookie preference (chromium_profile below): in
# Chromium 156 that is what decides, and the control test proves it (allowed, the unpartitioned
# cookie works in the frame; blocked, it never comes back). Chromium's test switch for the
# third-party cookie phase-out is passed as well, but in Chromium 156 it changes nothing either way
# (with cookies allowed by the preference, an unpartitioned cookie still works with it).
BLOCK_THIRD_PARTY_COOKIES = "--test-third-party-cookie-phaseout"
LAUNCH_SECRET = "launch-secret-shared-with-the-host-portal"
HEIGHT_MESSAGE = "portal-registration:height"
# Chromium ignores the `autofocus` attribute in a cross-origin frame (a frame may not take the
# focus from its host page on load) and logs this as a console error on every full page load of
# Patient Administration (Last name) and Sign in (Username): expected inside the frame.
AUTOFOCUS_BLOCKED = re.compile(r"^Blocked autofocusing on a <\w+> element in a cross-origin subframe\.$")
FRAME_ANCESTORS_REFUSAL = re.compile(
    r"^Framing '[^']+' violates the following Content Security Policy directive: \"frame-ancestors [^\"]*\"\. "
    r"The request has been blocked\.$"
)

# The host page's own script: records every message it receives, and sizes the iframe by the
# app's height messages from the app's origin only (what README's host snippet does).
HOST_JS = """
window.receivedMessages = [];
var frame = document.getElementById("registration-panel");
var appOrigin = frame.dataset.appOrigin;
window.addEventListener("message", function (event) {
  window.receivedMessages.push({origin: event.origin, data: event.data});
  if (event.origin !== appOrigin) return;
  if (event.data && event.data.type === "portal-registration:height" && event.data.height > 0) {
    frame.style.height = event.data.height + "px";
  }
});
"""


@dataclass
class HostPortal:
    """The practice's portal: its page frames `app_url + /launch?token=...`, a token it mints
    itself for `staff` of `practice` on every page load."""

    app_url: str = ""
    staff: str = "alex"
    practice: str = "Cedar Pediatrics"
    secret: str = LAUNCH_SECRET
    listed_origin: str = ""  # P1, which FRAME_ANCESTORS names
    unlisted_origin: str = ""  # P3, which it does not
    servers: list = field(default_factory=list)

    def launch_url(self) -> str:
        token = URLSafeTimedSerializer(self.secret, salt="launch").dumps(
            {"staff": self.staff, "practice": self.practice, "jti": secrets.token_urlsafe(16)}
        )
        return f"{self.app_url}/launch?token={token}"

    def wsgi(self) -> Flask:
        host = Flask("embedding_host")

        @host.get("/")
        def portal_page():
            page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Practice portal</title><link rel="icon" href="data:,">
<script src="/host.js" defer></script></head>
<body><h1>Practice portal</h1>
<iframe id="registration-panel" title="Portal registration" style="width: 1100px; border: 0"
  data-app-origin="{escape(self.app_url)}" src="{escape(self.launch_url())}"></iframe>
</body></html>"""
            return Response(page, mimetype="text/html")

        @host.get("/host.js")
        def host_js():
            return Response(HOST_JS, mimetype="text/javascript")

        return host

    def serve(self) -> str:
        """Serves the portal on a fresh loopback port (bound now, so no other server takes it);
        returns its origin as http://localhost:PORT, another site than http://127.0.0.1."""
        server = make_server("127.0.0.1", 0, self.wsgi(), threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.servers.append((server, thread))
        return f"http://localhost:{server.server_port}"

    def close(self) -> None:
        for server, thread in self.servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


@pytest.fixture(scope="module")
def host_portal():
    portal = HostPortal()
    portal.listed_origin = portal.serve()
    portal.unlisted_origin = portal.serve()
    yield portal
    portal.close()


@pytest.fixture
def app_config(host_portal):
    """The app embedded: FRAME_ANCESTORS names the host portal's origin (create_app then makes
    the session cookie Secure; SameSite=None; Partitioned), and the launch secret is shared."""
    return {"FRAME_ANCESTORS": host_portal.listed_origin, "LAUNCH_SECRET": LAUNCH_SECRET}


@pytest.fixture
def portal(host_portal, live_server, staff):
    host_portal.app_url = live_server.url
    return host_portal


def chromium_profile(folder: Path, block_third_party_cookies: bool) -> Path:
    """A fresh Chromium user-data folder whose cookie setting says, in the preference behind
    Settings > Third-party cookies, to block (1) or allow (0) third-party cookies."""
    mode = 1 if block_third_party_cookies else 0
    (folder / "Default").mkdir(parents=True)
    (folder / "Default" / "Preferences").write_text(
        json.dumps({"profile": {"cookie_controls_mode": mode, "block_third_party_cookies": bool(mode)}})
    )
    return folder


def launch_profile(browser_type, launch_args: dict, context_args: dict, folder: Path, block: bool) -> BrowserContext:
    args = CHROMIUM_ARGS + ([BLOCK_THIRD_PARTY_COOKIES] if block else [])
    return browser_type.launch_persistent_context(
        str(chromium_profile(folder, block)), **{**launch_args, "args": args}, **context_args
    )


@pytest.fixture
def blocking_context(browser_type, browser_type_launch_args, browser_context_args, tmp_path, live_server):
    """Chromium with third-party cookies blocked, its own launch for each test (closed before
    the live server stops)."""
    context = launch_profile(browser_type, browser_type_launch_args, browser_context_args, tmp_path / "blocking", True)
    yield context
    context.close()


@dataclass
class Console(ConsoleLog):
    """Console messages of every page and frame of one context; errors filtered as conftest's."""

    everything: list[str] = field(default_factory=list)
    tolerated: re.Pattern | None = None

    def watch(self, context: BrowserContext) -> None:
        context.add_init_script(CSP_REPORTER)
        context.on("console", self._on_console)
        context.on("weberror", lambda web_error: self.errors.append(f"uncaught: {web_error.error}"))

    def _on_console(self, message) -> None:
        self.everything.append(f"{message.type}: {message.text}")
        if message.type != "error" or EXPECTED_CONSOLE_ERROR.match(message.text):
            return
        if AUTOFOCUS_BLOCKED.match(message.text):
            return
        if self.tolerated and self.tolerated.search(message.text):
            return
        self.errors.append(f"{message.text} ({message.location.get('url')})")


@pytest.fixture
def host_page(blocking_context) -> tuple[Page, Console]:
    console = Console()
    console.watch(blocking_context)
    page = blocking_context.pages[0] if blocking_context.pages else blocking_context.new_page()
    return page, console


def app_frame(page: Page) -> Frame:
    [frame] = [frame for frame in page.frames if frame is not page.main_frame]
    return frame


def height_messages(page: Page) -> list[dict]:
    return [
        message for message in page.evaluate("window.receivedMessages || []")
        if isinstance(message["data"], dict) and message["data"].get("type") == HEIGHT_MESSAGE
    ]


def iframe_height(page: Page) -> float:
    return page.locator("#registration-panel").evaluate("frame => frame.getBoundingClientRect().height")


def assert_sized_by_last_message(page: Page, origin: str) -> int:
    """The host received height messages, all from the app's origin, and sized the iframe by
    the latest: the frame then shows the whole page without scrolling. Returns that height."""
    page.wait_for_function(
        """type => {
          const got = (window.receivedMessages || []).filter(m => m.data && m.data.type === type);
          const frame = document.getElementById("registration-panel");
          return got.length > 0 && Math.abs(frame.getBoundingClientRect().height - got[got.length - 1].data.height) <= 1;
        }""",
        arg=HEIGHT_MESSAGE,
    )
    app_frame(page).wait_for_function(
        "document.documentElement.scrollHeight <= document.documentElement.clientHeight + 1"
    )
    messages = height_messages(page)
    assert {message["origin"] for message in messages} == {origin}
    height = messages[-1]["data"]["height"]
    assert isinstance(height, int) and 200 < height < 5000, messages
    assert iframe_height(page) == pytest.approx(height, abs=1)
    return height


def test_workflow_in_a_cross_site_iframe_with_third_party_cookies_blocked(
    host_page, portal, live_server, app, practice, teen, shot
):
    page, console = host_page
    page.goto(portal.listed_origin + "/")
    expect(page.get_by_role("heading", name="Practice portal", exact=True)).to_be_visible()
    frame = page.frame_locator("iframe")

    # Launched by the token: straight to Patient Administration, no Sign in.
    expect(frame.get_by_role("heading", name="Patient Administration", exact=True, level=1)).to_be_visible()
    expect(frame.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    assert app_frame(page).url == live_server("/patients")
    # The page told the host its height, and the host sized the frame by it.
    first_height = assert_sized_by_last_message(page, live_server.url)
    shot(page, "50-embedded-patient-administration")

    # Search (htmx requests with the session and its CSRF header), then Select.
    open_account(frame, teen)
    expect(frame.get_by_role("region", name="Account Settings", exact=True)).to_be_visible()
    page.wait_for_function(
        "([m, h]) => (window.receivedMessages || []).filter(x => x.data && x.data.type === m).slice(-1)[0].data.height !== h",
        arg=[HEIGHT_MESSAGE, first_height],
    )
    assert_sized_by_last_message(page, live_server.url)
    shot(page, "51-embedded-patient-account")

    # Register Patient, Do not send PIN, Send PIN / Verification Question: a POST with CSRF.
    dialog = open_registration(frame)
    # The window is modal, sized by the frame's viewport: the frame grows to show all of it, as
    # soon as it opens and after each re-render.
    window_fits = """() => { const d = document.querySelector("dialog[open]"); const r = d.getBoundingClientRect();
      return d.scrollHeight <= d.clientHeight && r.top >= 0 && r.bottom <= document.documentElement.clientHeight; }"""
    app_frame(page).wait_for_function(window_fits)
    radio(dialog, "Send by", "Do not send PIN").check()
    app_frame(page).wait_for_function(window_fits)
    expect(dialog.get_by_role("button", name="Cancel", exact=True)).to_be_in_viewport()
    assert_sized_by_last_message(page, live_server.url)
    shot(page, "52-embedded-registration-window")
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("Not sent")
    shown_pin(dialog)  # the PIN, once, in the role=status region
    app_frame(page).wait_for_function(window_fits)
    shot(page, "53-embedded-pin-issued")

    # Closed, the frame goes back to the page's own height.
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(frame.get_by_role("region", name="Parent/Guardian", exact=True)).to_contain_text("Active")
    page_height = app_frame(page).evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)")
    page.wait_for_function("h => Math.abs(document.getElementById('registration-panel').getBoundingClientRect().height - h) <= 1", arg=page_height)
    assert assert_sized_by_last_message(page, live_server.url) == page_height

    [credential] = credential_rows(app, teen.id)
    assert credential.revoked_at is None and credential.used_at is None
    with app.app_context():
        sessions = db.session.scalars(select(StaffSession)).all()
        assert [(row.via, row.ended_at) for row in sessions] == [("launch", None)]
        assert sessions[0].practice_id == practice.id
        launches = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "launch")).all()
        assert [event.outcome for event in launches] == ["success"]
    # Every message the host page received came from the app, and was a height.
    assert [m["origin"] for m in page.evaluate("window.receivedMessages")] == [m["origin"] for m in height_messages(page)]

    # The session cookie is the partitioned one, keyed to the host's site.
    [cookie] = [c for c in page.context.cookies(live_server.url) if c["name"] == "session"]
    assert cookie["secure"] and cookie["sameSite"] == "None" and cookie["httpOnly"]
    assert cookie.get("partitionKey") == "http://localhost", cookie

    # Sign out (a plain form POST with its CSRF token) works in the frame too, and ends the session.
    frame.get_by_role("button", name="Sign out", exact=True).click()
    expect(frame.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    with app.app_context():
        assert [row.end_reason for row in db.session.scalars(select(StaffSession))] == ["signed out"]
    console.assert_clean()


def test_control_an_unpartitioned_cookie_is_lost_in_the_frame_with_third_party_cookies_blocked(
    host_page, portal, live_server, app, browser_type, browser_type_launch_args, browser_context_args, tmp_path, shot
):
    """Proves the browser really blocks third-party cookies: with the app's cookie still Secure
    and SameSite=None but not Partitioned, the launch is accepted and its session lost inside the
    frame (Sign in). The same page in a profile that allows third-party cookies keeps it, so the
    blocking, not anything else about the frame or the loopback origins, is what loses it."""
    app.config["SESSION_COOKIE_PARTITIONED"] = False
    page, console = host_page
    page.goto(portal.listed_origin + "/")
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    expect(frame.get_by_role("heading", name="Patient Administration", exact=True)).to_have_count(0)
    assert app_frame(page).url == live_server("/signin?next=/patients")
    assert [c for c in page.context.cookies(live_server.url) if c["name"] == "session"] == []
    with app.app_context():
        # The launch itself was accepted (a session row); only its cookie never came back.
        assert [row.via for row in db.session.scalars(select(StaffSession))] == ["launch"]
    shot(page, "54-embedded-control-unpartitioned-cookie-blocked")
    console.assert_clean()

    allowing = launch_profile(browser_type, browser_type_launch_args, browser_context_args, tmp_path / "allowing", False)
    try:
        other = allowing.pages[0] if allowing.pages else allowing.new_page()
        other.goto(portal.listed_origin + "/")
        heading = other.frame_locator("iframe").get_by_role("heading", name="Patient Administration", exact=True, level=1)
        expect(heading).to_be_visible()
        [cookie] = [c for c in allowing.cookies(live_server.url) if c["name"] == "session"]
        assert "partitionKey" not in cookie or not cookie["partitionKey"], cookie
    finally:
        allowing.close()


def test_an_unlisted_host_origin_is_refused_framing(host_page, portal, live_server, app, shot):
    """A page on an origin FRAME_ANCESTORS does not list gets no app in its iframe: Chromium
    refuses the framing (CSP frame-ancestors) and says so on the console."""
    page, console = host_page
    console.tolerated = FRAME_ANCESTORS_REFUSAL
    with page.expect_console_message(lambda message: bool(FRAME_ANCESTORS_REFUSAL.match(message.text))) as refusal:
        page.goto(portal.unlisted_origin + "/")
    assert refusal.value.type == "error"
    assert f"Framing '{live_server.url}/'" in refusal.value.text
    assert f'"frame-ancestors {portal.listed_origin}"' in refusal.value.text
    expect(page.get_by_role("heading", name="Practice portal", exact=True)).to_be_visible()
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("heading", name="Patient Administration", exact=True)).to_have_count(0)
    expect(frame.get_by_role("heading", name="Sign in", exact=True)).to_have_count(0)
    assert app_frame(page).url == "chrome-error://chromewebdata/"  # Chromium's error page, not the app
    page.wait_for_timeout(300)  # a height message, were one sent, would have arrived by now
    assert height_messages(page) == []
    shot(page, "55-embedded-unlisted-origin-refused")
    console.assert_clean()


def test_the_host_origins_meta_names_the_concrete_framing_origins(app, host_portal, client):
    """base.html's <meta name="host-origins">: what static/js/app.js may post to. Only when
    embedded; only full origins, written as browsers write them; never a wildcard."""
    assert f'<meta name="host-origins" content="{host_portal.listed_origin}">' in client.get("/signin").get_data(as_text=True)
    assert postmessage_targets({"FRAME_ANCESTORS": "'self'"}) == []
    mixed = "'self' https://Portal.Example.com:443/ https://*.example.org https://portal.example.com http://localhost:8080 data:"
    assert postmessage_targets({"FRAME_ANCESTORS": mixed}) == ["https://portal.example.com", "http://localhost:8080"]
