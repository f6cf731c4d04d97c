"""Per-client rate limits (Flask-Limiter): where the counters live, the limits read at request
time, and the refusal to serve web requests without shared storage.

- Each app has its own Limiter (RateLimits). Views carry a mark (`limited_by`), which create_app
  turns into that Limiter's limit (`limit_marked_views`).
- Storage is `RATELIMIT_STORAGE_URI` (Redis in production). When it is unset, the embedded SQLite
  default counts in memory (one process, one machine). With any other `DATABASE_URL` a process that
  serves web requests refuses to start: in-memory counters are per process, so every gunicorn
  worker and every server would grant a client the whole limit again. CLI commands never serve
  requests and never need it.
- `PORTAL_RATE_LIMIT` and `SIGNIN_RATE_LIMIT` are read from the app's config on every request, so
  each app (and each test) can set its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import click
from flask import Flask, current_app, request
from flask.cli import ScriptInfo, run_command
from flask_limiter import Limiter, RouteLimit
from flask_limiter.util import get_remote_address
from limits import parse_many
from sqlalchemy.engine import make_url

from config import DEFAULT_PORTAL_RATE_LIMIT, DEFAULT_SIGNIN_RATE_LIMIT

MEMORY_STORAGE = "memory://"
EXTENSION_KEY = "rate_limits"


class RateLimitStorageRequired(click.ClickException, RuntimeError):
    """The web app would start with per-process rate-limit counters on a production database.

    A RuntimeError for WSGI servers that call create_app (gunicorn prints it and stops); a
    ClickException so that `flask run` prints it as `Error: ...` and exits with status 1."""


def portal_rate_limit() -> str:
    return current_app.config.get("PORTAL_RATE_LIMIT") or DEFAULT_PORTAL_RATE_LIMIT


def signin_rate_limit() -> str:
    return current_app.config.get("SIGNIN_RATE_LIMIT") or DEFAULT_SIGNIN_RATE_LIMIT


def serves_web_requests() -> bool:
    """Whether this process is about to serve HTTP requests with the app being created.

    The Flask CLI (`flask --app app ...`) creates the app inside a click context carrying its
    ScriptInfo: every command there is a CLI command except `run`, the development server. Anything
    else serves requests: gunicorn, uWSGI or waitress import and call create_app with no click
    context, and click-based servers (uvicorn) or scripts have no Flask ScriptInfo."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.find_object(ScriptInfo) is None:
        return True
    return ctx.command is run_command or ctx.info_name == "run"


def choose_storage_uri(config: Mapping[str, Any], serving: bool | None = None) -> str:
    """The storage URI to count in, or RateLimitStorageRequired when serving without one on a
    database other than SQLite."""
    configured = config.get("RATELIMIT_STORAGE_URI")
    if configured:
        return configured
    backend = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    if backend == "sqlite":
        return MEMORY_STORAGE
    if serving is None:
        serving = serves_web_requests()
    if not serving:
        return MEMORY_STORAGE  # CLI commands serve no requests: their limiter is never consulted
    # Name the backend, never the URL: it may carry a password.
    raise RateLimitStorageRequired(
        "RATELIMIT_STORAGE_URI is not set. The web app refuses to start without it when "
        f"DATABASE_URL is not SQLite (it names a {backend} database here): the per-client limits "
        "on staff sign-in and on the portal's POSTs must be counted in storage that every worker "
        "process and server shares, or each one would grant a client the whole limit again. Set "
        "RATELIMIT_STORAGE_URI to a Redis URL, e.g. RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0. "
        "CLI commands (flask --app app db upgrade, carriers list, ...) do not need it."
    )


def check_limits(config: Mapping[str, Any]) -> None:
    """A malformed limit stops the web app at start-up rather than failing every POST."""
    for name, default in (("PORTAL_RATE_LIMIT", DEFAULT_PORTAL_RATE_LIMIT), ("SIGNIN_RATE_LIMIT", DEFAULT_SIGNIN_RATE_LIMIT)):
        value = config.get(name) or default
        try:
            parse_many(value)
        except ValueError as error:
            raise RuntimeError(
                f"{name}={value!r} is not a rate limit in Flask-Limiter's syntax, e.g. {default!r}"
            ) from error


def retry_after_seconds(reset_at: float, now: float | None = None) -> int:
    """Whole seconds until a limit's window resets; at least 1."""
    return max(1, math.ceil(reset_at - (time.time() if now is None else now)))


def form_page_answer(page: str, retry_after: int | None):
    """A form page's response: 429 with Retry-After while a growing delay refuses the attempt
    (services/throttle.py), 422 after any other refused POST, else 200."""
    status = 429 if retry_after else 422 if request.method == "POST" else 200
    return page, status, ({"Retry-After": str(retry_after)} if retry_after else {})


def describe_wait(seconds: int) -> str:
    """'42 seconds', '1 minute', '5 hours': rounded up, so the client is never told too early."""
    if seconds < 120:
        amount, unit = seconds, "second"
    elif seconds < 2 * 3600:
        amount, unit = math.ceil(seconds / 60), "minute"
    else:
        amount, unit = math.ceil(seconds / 3600), "hour"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


class ClientLimit(StrEnum):
    """The per-client limits a view can be marked with (`limited_by`)."""

    # Every portal form's POST draws on one budget per client, PORTAL_RATE_LIMIT, so a guesser
    # cannot multiply it by spreading attempts over several portal forms.
    PORTAL_POST = "portal-post"
    # Staff sign-in's POST: SIGNIN_RATE_LIMIT, counted per view.
    SIGNIN_POST = "signin-post"
    # /launch is a GET that anyone can call and that writes an audit row: SIGNIN_RATE_LIMIT too,
    # in a budget of its own (a host portal launches one person at a time).
    LAUNCH = "launch"


def limited_by(limit: ClientLimit) -> Callable[[Callable], Callable]:
    """Marks a view (applied under the route decorator) for the app's limit of that kind.

    Only a mark: each app has its own Limiter (RateLimits), which create_app applies to the
    marked views once they are registered (`limit_marked_views`)."""

    def mark(view: Callable) -> Callable:
        view.client_limit = limit
        return view

    return mark


class RateLimits:
    """One app's Limiter and the route limits its marked views get.

    One Limiter per app rather than one per process: Flask-Limiter keeps the storage and the
    settings that init_app reads from an app's config on the Limiter itself, so a second app in
    the same process (two app instances in tests, two apps under one server) bound to a shared
    Limiter would re-point the first at its storage. With one each, two apps share counts exactly
    when their storage is shared (Redis), as two processes would."""

    def __init__(self, app: Flask):
        # Per client (its address); storage from RATELIMIT_STORAGE_URI, chosen in create_app.
        self.limiter = Limiter(key_func=get_remote_address)
        self.limiter.init_app(app)
        # POSTs (or the launch GET) only: showing a page is never limited. The limits are read
        # from the app's config on every request.
        self.route_limits: dict[ClientLimit, RouteLimit] = {
            ClientLimit.PORTAL_POST: self.limiter.shared_limit(portal_rate_limit, scope="portal-post", methods=["POST"]),
            ClientLimit.SIGNIN_POST: self.limiter.limit(signin_rate_limit, methods=["POST"]),
            ClientLimit.LAUNCH: self.limiter.shared_limit(signin_rate_limit, scope="launch", methods=["GET"]),
        }
        self.limited_endpoints: set[str] = set()
        app.extensions[EXTENSION_KEY] = self


def limit_marked_views(app: Flask) -> None:
    """Applies the app's route limits to every registered view marked with `limited_by`.

    Flask-Limiter counts a decorated limit when the view it returns is called, so each marked
    endpoint is re-registered (`app.endpoint`) with that view. Safe to call again after adding
    views: an endpoint is limited once."""
    limits: RateLimits = app.extensions[EXTENSION_KEY]
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        mark = getattr(view, "client_limit", None)
        if mark is None or rule.endpoint in limits.limited_endpoints:
            continue
        app.endpoint(rule.endpoint)(limits.route_limits[mark](view))
        limits.limited_endpoints.add(rule.endpoint)


def current_limiter() -> Limiter:
    """The Limiter of the app handling the request (for the 429 page and tests)."""
    return current_app.extensions[EXTENSION_KEY].limiter
