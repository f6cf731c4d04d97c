"""Debian's Chromium as the browser tests launch it, and the console errors they allow."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SKIP_REASON = f"Browser tests skipped: no Chromium at {CHROMIUM} (install it with `apt-get install chromium`)"


# Console errors the workflow expects. Chromium reports every 4xx answer to a fetch: 422 (invalid
# input shown beside fields) and 409 (refused, or already issued). htmx logs a request it
# aborts on purpose (hx-sync replace: a newer toggle of the window replaces one in flight).
EXPECTED_CONSOLE_ERROR = re.compile(
    r"^Failed to load resource: the server responded with a status of (409|422)\b"
    r"|^htmx:(sendAbort|afterRequest), \[object HTMLDivElement\]$"
)


# Reports Content-Security-Policy violations to the console too, with what was blocked.
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", function (event) {
  var target = event.target && event.target.outerHTML ? event.target.outerHTML.slice(0, 120) : "";
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline")
    + " at " + event.sourceFile + ":" + event.lineNumber + ":" + event.columnNumber + " " + target);
});
"""


@dataclass


class ConsoleLog:
    """Console errors and uncaught exceptions of every page in the test's browser context."""

    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.errors, "browser console errors:\n" + "\n".join(self.errors)
