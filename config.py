"""Configuration: one class that reads the environment, with safe defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_PORT = 5000
# Per-client limits in Flask-Limiter's syntax (CONTRACT section 3); env vars override them.
DEFAULT_PORTAL_RATE_LIMIT = "20/minute;200/day"
DEFAULT_SIGNIN_RATE_LIMIT = "10/minute"


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_or_create_secret_key(instance_path: Path) -> str:
    """A key generated once into instance/ so every process and restart shares it."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Written whole to a private temporary file, then linked into place: when two processes
    # start at once, the loser of os.link reads the winner's complete key.
    temporary = instance_path / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    try:
        os.link(temporary, key_file)
    except FileExistsError:
        key = key_file.read_text().strip()
    finally:
        temporary.unlink()
    return key


class Config:
    """Settings read from an environment mapping (os.environ by default)."""

    def __init__(self, instance_path: Path, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.instance_path = instance_path
        self.env = env

    def as_mapping(self) -> dict[str, Any]:
        env = self.env
        port = int(env.get("PORT") or DEFAULT_PORT)
        database_url = env.get("DATABASE_URL") or f"sqlite:///{self.instance_path / 'portal_pins.sqlite3'}"
        mail_server = env.get("MAIL_SERVER") or None
        frame_ancestors = (env.get("FRAME_ANCESTORS") or "").strip() or "'self'"
        settings: dict[str, Any] = {
            "SECRET_KEY": env.get("SECRET_KEY") or load_or_create_secret_key(self.instance_path),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PORTAL_URL": env.get("PORTAL_URL") or f"http://127.0.0.1:{port}/portal/register",
            "FRAME_ANCESTORS": frame_ancestors,
            # Standalone: SameSite=Lax. Embedded (FRAME_ANCESTORS names other origins), create_app
            # makes it Secure, SameSite=None and Partitioned.
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE")),
            "SESSION_COOKIE_SAMESITE": "Lax",
            # "json": one JSON object per log line (logging_setup.py); otherwise Python's default.
            # How many reverse proxies stand in front (each appends to X-Forwarded-For): 0 trusts
            # none. Set it behind a proxy so rate limits and the audit trail see the client's address.
            "PROXY_COUNT": int(env.get("PROXY_COUNT") or 0),
            "LOG_FORMAT": (env.get("LOG_FORMAT") or "").strip().lower() or None,
            "SESSION_IDLE_MINUTES": float(env.get("SESSION_IDLE_MINUTES") or 15),
            "SESSION_MAX_HOURS": float(env.get("SESSION_MAX_HOURS") or 8),
            "LAUNCH_SECRET": env.get("LAUNCH_SECRET") or None,
            # Mail: Flask-Mail's own names. No MAIL_SERVER means the development outbox page.
            "MAIL_SERVER": mail_server,
            "MAIL_PORT": int(env.get("MAIL_PORT") or 25),
            "MAIL_USE_TLS": _flag(env.get("MAIL_USE_TLS")),
            "MAIL_USE_SSL": _flag(env.get("MAIL_USE_SSL")),
            "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
            "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
            "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER") or "Patient Portal <no-reply@localhost>",
            # Flask-Mail suppresses sending when app.testing; we send for real or to the dev outbox.
            "MAIL_SUPPRESS_SEND": False,
            "MAIL_TIMEOUT_SECONDS": float(env.get("MAIL_TIMEOUT_SECONDS") or 5),
            # Unset: memory:// on SQLite; any other database refuses to serve without it
            # (rate_limits.py). CLI commands never need it.
            "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or None,
            "PORTAL_RATE_LIMIT": env.get("PORTAL_RATE_LIMIT") or DEFAULT_PORTAL_RATE_LIMIT,
            "SIGNIN_RATE_LIMIT": env.get("SIGNIN_RATE_LIMIT") or DEFAULT_SIGNIN_RATE_LIMIT,
            "SEARCH_PAGE_SIZE": 25,
            # CSRF through the session; tokens last as long as the staff session.
            "WTF_CSRF_TIME_LIMIT": None,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            # hide_parameters: a logged database error must not carry names, birth dates or emails.
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        }
        return settings
