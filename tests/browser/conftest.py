"""Browser fixtures: Debian's Chromium driven by pytest-playwright against the real app, served
by werkzeug on a free loopback port. Every browser test runs once per database (the `app`
fixture is parametrised over SQLite and PostgreSQL).

Chromium is never downloaded: the tests use /usr/bin/chromium and skip, saying so, without it
(in CI, CI=true, they fail instead: a skipped browser run there would pass untested screens)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.support.browser_pages import sign_in
from tests.support.builders import make_patient, make_staff, years_ago
from tests.support.chromium import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CSP_REPORTER,
    EXPECTED_CONSOLE_ERROR,
    SKIP_REASON,
    ConsoleLog,
)
from tests.support.network import free_port
from tests.support.outside_parts import require_part

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _skip_or_fail_without_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        require_part("Chromium", SKIP_REASON)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    _skip_or_fail_without_chromium()
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        # Playwright turns Chromium's popup blocker off; staff browsers have it on, and
        # Complete / Log In must open its tab all the same (README: The outside contract).
        "ignore_default_args": ["--disable-popup-blocking"],
    }


@pytest.fixture(scope="session")
def base_url():
    """Shadows pytest-playwright's fallback `base_url`, a session fixture defined on a plugin
    instance, which pytest 9 deprecates with a warning (an error under our filterwarnings).
    Tests build URLs from `live_server` instead."""
    return None


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "locale": "en-US"}


@pytest.fixture(scope="session", autouse=True)
def _needs_chromium():
    """Skip (or fail, in CI) before any database, server or data is set up (session scope: before
    database_url)."""
    _skip_or_fail_without_chromium()


@dataclass
class LiveServer:
    url: str
    app: object

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture
def live_server(app):
    """The test's app served by werkzeug in a daemon thread, shut down after the test."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    # Request threads are joined on close: one still answering (a region refreshing itself, the
    # History after an action) would otherwise hold its tables while the next test empties them.
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{port}", app=app)
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def console(context):
    log = ConsoleLog()

    def on_console(message):
        if message.type == "error" and not EXPECTED_CONSOLE_ERROR.match(message.text):
            log.errors.append(f"{message.text} ({message.location.get('url')})")

    def on_page_error(web_error):
        log.errors.append(f"uncaught: {web_error.error}")

    context.add_init_script(CSP_REPORTER)
    context.on("console", on_console)
    context.on("weberror", on_page_error)
    return log


@pytest.fixture
def browser_page(live_server, console, page):
    """A page of the live app whose console must stay free of errors and CSP violations.
    (live_server is set up first, so it is shut down after the browser context closes.)"""
    yield page
    console.assert_clean()


@pytest.fixture
def shot(request, database_url):
    """shot(page, name): a full-page screenshot under tests/artifacts/ (git-ignored)."""
    database = request.node.callspec.params.get("database_url", "db")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}-{database}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def staff(app, practice):
    make_staff(app, practice)
    return "alex"


@pytest.fixture
def teen(app, practice):
    """Sofía Núñez, 14: Send to is offered."""
    return make_patient(
        app, practice, "Sofía", "Núñez", years_ago(14, days=60),
        guardian_email="maria.nunez@example.com", guardian_cell="6175550143",
    )


@pytest.fixture
def child(app, practice):
    """Emma Carter, 8: no Send to."""
    return make_patient(app, practice, "Emma", "Carter", years_ago(8, days=40), guardian_email="dana.carter@example.com")


@pytest.fixture
def signed_in(browser_page, live_server, staff):
    """The browser page, signed in as staff and showing Patient Administration."""
    sign_in(browser_page, live_server)
    return browser_page
