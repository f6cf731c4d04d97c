"""Configuration: one class that reads the environment, with safe defaults. Every key the app
reads is declared here: `Config.as_mapping` (from the environment, or fixed), and
`derived_settings` (what follows from the others once a test's own settings are applied)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from models.base import utcnow
from services.credentials.pins import HASH_METHOD

DEFAULT_PORT = 5000
# Per-client limits in Flask-Limiter's syntax (the production defaults); env vars override them.
DEFAULT_PORTAL_RATE_LIMIT = "20/minute;200/day"
DEFAULT_SIGNIN_RATE_LIMIT = "10/minute"


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def make_instance_folder_private(instance_path: Path) -> None:
    """instance/ holds the SQLite database (patients, message bodies) and the generated secret
    key: only the owner may list or read it, whatever the umask (an existing folder included),
    and every regular file directly in it is 0600 (a secret_key written 0644 by an older
    version or by hand included). Symbolic links and subfolders are left as they are."""
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(instance_path, 0o700)
    with os.scandir(instance_path) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                try:
                    os.chmod(entry.path, 0o600)
                except FileNotFoundError:  # removed meanwhile (another process's temporary key file)
                    pass


def make_sqlite_files_private(database_uri: str, instance_path: Path) -> None:
    """A SQLite database file is created (empty) owner-only before SQLite opens it, and an
    existing one, its -wal, -shm and -journal are made so: SQLite creates those beside the
    database with the database file's own mode. Other databases: nothing to do."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return
    path = Path(url.database)
    if not path.is_absolute():  # Flask-SQLAlchemy reads a relative SQLite path inside instance/
        path = instance_path / path
    if not path.parent.is_dir():
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.chmod(companion, 0o600)


def load_or_create_secret_key(instance_path: Path) -> str:
    """A key generated once into instance/ so every process and restart shares it."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    make_instance_folder_private(instance_path)
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


def log_format(environ: Mapping[str, str] | None = None) -> str | None:
    """LOG_FORMAT, for the app and for gunicorn.conf.py (whose loggers exist before the app)."""
    env = os.environ if environ is None else environ
    return (env.get("LOG_FORMAT") or "").strip().lower() or None


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
        settings: dict[str, Any] = {
            "SECRET_KEY": env.get("SECRET_KEY") or load_or_create_secret_key(self.instance_path),
            # hide_parameters: a logged database error must not carry names, birth dates or emails.
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
            # What welcome messages link to: from configuration, never from a request's Host header.
            "PORTAL_URL": env.get("PORTAL_URL") or f"http://127.0.0.1:{port}/portal/register",
            # This app's own public base URL, which Twilio's status callbacks are sent to (and their
            # signatures computed over): from configuration, never from a request's Host header.
            "PUBLIC_URL": (env.get("PUBLIC_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            # Origins allowed to frame the staff screens; anything besides 'self' means embedded
            # (see `embedded` and derived_settings).
            "FRAME_ANCESTORS": (env.get("FRAME_ANCESTORS") or "").strip() or "'self'",
            # Standalone: SameSite=Lax. Embedded, derived_settings makes the cookie Secure,
            # SameSite=None and Partitioned.
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE")),
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_PARTITIONED": False,
            "SESSION_IDLE_MINUTES": float(env.get("SESSION_IDLE_MINUTES") or 15),
            "SESSION_MAX_HOURS": float(env.get("SESSION_MAX_HOURS") or 8),
            # A parent's portal session (server-side too): ends this long after the last request, or
            # this long after sign-in, whatever happens meanwhile.
            "PORTAL_SESSION_IDLE_MINUTES": float(env.get("PORTAL_SESSION_IDLE_MINUTES") or 30),
            "PORTAL_SESSION_MAX_HOURS": float(env.get("PORTAL_SESSION_MAX_HOURS") or 12),
            # CSRF through the session; tokens last as long as the staff session.
            "WTF_CSRF_TIME_LIMIT": None,
            # Flask-WTF's own default: the session key of the CSRF secret, which the portal drops
            # whenever a portal session starts (blueprints/portal/__init__.py).
            "WTF_CSRF_FIELD_NAME": "csrf_token",
            # How many reverse proxies stand in front (each appends to X-Forwarded-For): 0 trusts
            # none. Set it behind a proxy so rate limits and the audit trail see the client's address.
            "PROXY_COUNT": int(env.get("PROXY_COUNT") or 0),
            # "json": one JSON object per log line (blueprints/logs.py); otherwise Python's default.
            "LOG_FORMAT": log_format(env),
            # Shared with the host portal, which signs /launch tokens with it; None: no launch.
            "LAUNCH_SECRET": env.get("LAUNCH_SECRET") or None,
            # Mail: Flask-Mail's own names. No MAIL_SERVER means the development outbox page
            # (DEV_OUTBOX) on the SQLite default, a failed delivery elsewhere.
            "MAIL_SERVER": env.get("MAIL_SERVER") or None,
            "MAIL_PORT": int(env.get("MAIL_PORT") or 25),
            "MAIL_USE_TLS": _flag(env.get("MAIL_USE_TLS")),
            "MAIL_USE_SSL": _flag(env.get("MAIL_USE_SSL")),
            "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
            "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
            "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER") or "Patient Portal <no-reply@localhost>",
            # Flask-Mail suppresses sending when app.testing; we send for real or to the dev outbox.
            "MAIL_SUPPRESS_SEND": False,
            # Flask-Mail has no timeout of its own (services/delivery/mail_delivery.py gives its connection one).
            "MAIL_TIMEOUT_SECONDS": float(env.get("MAIL_TIMEOUT_SECONDS") or 5),
            # Texts through Twilio's Messaging API when all three are set (services/delivery/sms.py);
            # otherwise through the carriers' email gateways. TWILIO_FROM: an E.164 number or a
            # Messaging Service SID (MG…). TWILIO_API_URL: where the SDK's requests go (tests: a fake).
            "TWILIO_ACCOUNT_SID": env.get("TWILIO_ACCOUNT_SID") or None,
            "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN") or None,
            "TWILIO_FROM": env.get("TWILIO_FROM") or None,
            "TWILIO_API_URL": (env.get("TWILIO_API_URL") or "https://api.twilio.com").rstrip("/"),
            # A mailbox `outbox send --loop` polls for bounces (imaps://user:password@host:993/INBOX);
            # None: bounces come only through `outbox bounce` (a mail server's pipe).
            "BOUNCE_IMAP_URL": env.get("BOUNCE_IMAP_URL") or None,
            # Fernet keys (comma-separated, newest first) for queued message bodies; None: a key
            # derived from SECRET_KEY (services/delivery/message_cipher.py).
            "OUTBOX_KEY": env.get("OUTBOX_KEY") or None,
            # Unset: memory:// on SQLite; any other database refuses to serve without it
            # (blueprints/rate_limits.py, which sets the value create_app uses). CLI commands never need it.
            "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or None,
            "PORTAL_RATE_LIMIT": env.get("PORTAL_RATE_LIMIT") or DEFAULT_PORTAL_RATE_LIMIT,
            "SIGNIN_RATE_LIMIT": env.get("SIGNIN_RATE_LIMIT") or DEFAULT_SIGNIN_RATE_LIMIT,
            # werkzeug's method for PINs and verification answers; tests set a cheap one.
            "HASH_METHOD": HASH_METHOD,
            # What "now" is for sessions, PIN expiry and the outbox; tests move it.
            "CLOCK": utcnow,
            "SEARCH_PAGE_SIZE": 25,
            # Static CSS and JS go out compressed (brotli, else gzip, zstd or deflate, as the browser
            # accepts), keeping their ETag (suffixed) for revalidation. HTML is left alone: pages
            # carry the CSRF token and, once, a PIN beside text the user typed (what BREACH needs).
            "COMPRESS_MIMETYPES": ["text/css", "text/javascript", "application/javascript"],
            "COMPRESS_ALGORITHM": ["br", "gzip", "zstd", "deflate"],
            "COMPRESS_BR_LEVEL": 6,
        }
        return settings


def embedded(config: Mapping[str, Any]) -> bool:
    """Whether another origin may frame the staff screens (FRAME_ANCESTORS names one)."""
    return any(source != "'self'" for source in config["FRAME_ANCESTORS"].split())


def host_origins(config: Mapping[str, Any]) -> list[str]:
    """The origins allowed to frame us, as postMessage targets (schemes and hosts only)."""
    return [source for source in config["FRAME_ANCESTORS"].split() if "://" in source and "*" not in source]


def derived_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Settings that follow from the others, computed once the app's settings are final."""
    settings: dict[str, Any] = {
        # The development outbox keeps message bodies (PINs): only for the embedded SQLite default
        # without a mail server. Elsewhere a missing MAIL_SERVER shows as a failed delivery.
        "DEV_OUTBOX": not config.get("MAIL_SERVER") and config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"),
        # Keys the PIN lookup bucket (a short HMAC of the PIN beside its salted hash); from
        # SECRET_KEY, so it is outside the database and the same in every process.
        "PIN_LOOKUP_KEY": hmac.new(config["SECRET_KEY"].encode(), b"pin-lookup-bucket", hashlib.sha256).digest(),
    }
    if embedded(config):
        # Inside another site's iframe the session cookie is a cross-site one: Secure,
        # SameSite=None and Partitioned (CHIPS), which Chromium keeps with third-party cookies
        # blocked. CSRF tokens live in that session, so forms keep working in the frame.
        settings.update(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_SAMESITE="None", SESSION_COOKIE_PARTITIONED=True)
    return settings
