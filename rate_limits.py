"""Per-client rate limits (Flask-Limiter): where the counters live, the limits read at request
time, and the refusal to serve web requests without shared storage (CONTRACT sections 3 and 4).

- Storage is `RATELIMIT_STORAGE_URI` (Redis in production). When it is unset, the embedded SQLite
  default counts in memory (one process, one machine). With any other `DATABASE_URL` a process that
  serves web requests refuses to start: in-memory counters are per process, so every gunicorn
  worker and every server would grant a client the whole limit again. CLI commands never serve
  requests and never need it.
- `PORTAL_RATE_LIMIT` and `SIGNIN_RATE_LIMIT` are read from the app's config on every request, so
  each app (and each test) can set its own.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, current_app, has_app_context
from flask.cli import ScriptInfo, run_command
from flask_limiter import Limiter
from limits import parse_many
from sqlalchemy.engine import make_url

from config import DEFAULT_PORTAL_RATE_LIMIT, DEFAULT_SIGNIN_RATE_LIMIT

MEMORY_STORAGE = "memory://"
_STATE_KEY = "rate_limits.per_app_state"


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


def describe_wait(seconds: int) -> str:
    """'42 seconds', '1 minute', '5 hours': rounded up, so the client is never told too early."""
    if seconds < 120:
        amount, unit = seconds, "second"
    elif seconds < 2 * 3600:
        amount, unit = math.ceil(seconds / 60), "minute"
    else:
        amount, unit = math.ceil(seconds / 3600), "hour"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


# Everything Limiter.init_app derives from an app (its config, its storage) and the request-time
# state that goes with it. Flask-Limiter keeps these on the extension object itself.
_PER_APP_ATTRIBUTES = (
    "enabled",
    "initialized",
    "_default_limits_per_method",
    "_default_limits_exempt_when",
    "_default_limits_deduct_when",
    "_default_limits_cost",
    "_application_limits_per_method",
    "_application_limits_exempt_when",
    "_application_limits_deduct_when",
    "_application_limits_cost",
    "_swallow_errors",
    "_fail_on_first_breach",
    "_headers_enabled",
    "_header_mapping",
    "_retry_after",
    "_storage_options",
    "_storage_uri",
    "_storage",
    "_strategy",
    "_limiter",
    "_storage_dead",
    "_fallback_storage",
    "_fallback_limiter",
    "_in_memory_fallback",
    "_in_memory_fallback_enabled",
    "_key_prefix",
    "_request_identifier",
    "_on_breach",
    "_on_meta_breach",
    "_meta_limits",
    "_Limiter__check_backend_count",
    "_Limiter__last_check_backend",
)


class _PerApp:
    """A data descriptor: the attribute lives in the state of the app being served."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, limiter, owner=None):
        if limiter is None:
            return self
        try:
            return limiter._state()[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, limiter, value) -> None:
        limiter._state()[self.name] = value


class AppScopedLimiter(Limiter):
    """Flask-Limiter's Limiter, created once, whose storage and settings belong to each app.

    Limiter keeps the storage, strategy and settings that init_app reads from an app's config on
    the extension object, so binding one limiter to a second app in the same process (two app
    instances in tests, or two apps under one server) silently re-points the first app at the
    second's storage and settings. Here every such attribute is kept per app in
    `app.extensions` and looked up through the current app, so each app counts in its own
    storage: two apps share counts exactly when their storage is shared (Redis), as two processes
    would. Limits declared with decorators, and default or application limits, stay shared by all
    apps (this project declares only decorated limits, read from each app's config per request)."""

    def __init__(self, *args, **kwargs):
        self._defaults: dict[str, Any] = {}
        self._binding = threading.local()
        super().__init__(*args, **kwargs)

    def _state(self) -> dict[str, Any]:
        bound = getattr(self._binding, "state", None)
        if bound is not None:
            return bound
        if has_app_context():
            state = current_app.extensions.get(_STATE_KEY, {}).get(id(self))
            if state is not None:
                return state
        return self._defaults

    def init_app(self, app: Flask) -> None:
        state = {name: copy.copy(value) for name, value in self._defaults.items()}
        self._binding.state = state
        try:
            super().init_app(app)
        finally:
            self._binding.state = None
        app.extensions.setdefault(_STATE_KEY, {})[id(self)] = state


for _name in _PER_APP_ATTRIBUTES:
    setattr(AppScopedLimiter, _name, _PerApp(_name))
del _name
