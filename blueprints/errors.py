"""Error pages: plain, short, and fragments for htmx so a swap never shows a whole page."""

from __future__ import annotations

import contextlib

from flask import Flask, make_response, render_template
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from blueprints.extensions import db
from blueprints.rate_limits import current_limiter, describe_wait, retry_after_seconds
from blueprints.rendering import is_fragment_request, render_fragment_or_page

CSRF_REFUSAL = "The form has expired or did not come from this site. Reload the page and try again."
MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "You do not have access to this page."),
    404: ("Not found", "There is no such page or patient in this practice."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    409: ("Conflict", "That could not be done in the current state."),
    429: ("Too many requests", "Too many attempts. Wait a minute and try again."),
    500: ("Something went wrong", "The request failed. Check the patient's account before trying again, or call IT."),
}


def _render_error(status: int, message: str | None = None, error: Exception | None = None):
    title, default = MESSAGES.get(status, MESSAGES[500])
    response = render_fragment_or_page(
        "errors/error.html", "errors/_error.html", status, title=title, message=message or default
    )
    if isinstance(error, HTTPException):
        # The exception's own headers (a 405's Allow, ...), which a page of our own would drop.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
    return response


def _render_server_error():
    """After a failure, possibly of the database: roll back the aborted transaction, and answer
    with a page that runs no query (errors/server_error.html stands alone; base.html would read
    the staff member's practices), so the error handler itself cannot fail and leave the client
    with the server's bare page and a traceback in its log."""
    with contextlib.suppress(Exception):
        db.session.rollback()
    title, message = MESSAGES[500]
    template = "errors/_error.html" if is_fragment_request() else "errors/server_error.html"
    response = make_response(render_template(template, title=title, message=message), 500)
    response.vary.add("HX-Request")
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _render_error(400, CSRF_REFUSAL)

    for status in (400, 403, 404, 405, 409, 429):
        app.register_error_handler(status, lambda error, status=status: _render_error(status, error=error))
    app.register_error_handler(500, lambda error: _render_server_error())

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error):
        """A per-client limit was reached: say when to try again, and send Retry-After."""
        breached = current_limiter().current_limit
        if breached is None:
            return _render_error(429)
        seconds = retry_after_seconds(breached.window.reset_time)  # the breached window's end
        response = _render_error(429, f"Too many attempts. Try again in {describe_wait(seconds)}.")
        response.headers["Retry-After"] = str(seconds)
        return response
