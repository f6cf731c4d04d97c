"""The parts, built from the app's configuration, that views and commands hand to service calls:
the keys kept outside the database, the outbox cipher, the couriers and the default portal URL.
Each is built once per app, and again only when a setting it reads changes (tests change them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app

from blueprints.extensions import db
from services.credentials.registration import SigningKeys
from services.delivery.couriers import Couriers, couriers_for
from services.delivery.message_cipher import MessageCipher


def _built(name: str, build: Callable[[], Any], *settings: str, depends_on: object = None) -> Any:
    config = current_app.config
    seen = (*(config.get(setting) for setting in settings), depends_on)
    parts = current_app.extensions.setdefault("configured_parts", {})
    held = parts.get(name)
    if held is None or held[0] != seen:
        held = parts[name] = (seen, build())
    return held[1]


def signing_keys() -> SigningKeys:
    config = current_app.config
    return _built("signing_keys", lambda: SigningKeys.from_config(config),
                  "PIN_LOOKUP_KEY", "SECRET_KEY", "HASH_METHOD", "OUTBOX_KEY")


def message_cipher() -> MessageCipher:
    config = current_app.config
    return _built("message_cipher", lambda: MessageCipher.from_config(config), "SECRET_KEY", "OUTBOX_KEY")


def couriers() -> Couriers:
    """Mail through SMTP with the configured deadline (or the development outbox), and texts
    through Twilio when it is configured."""
    config, mail_state = current_app.config, current_app.extensions["mail"]
    # Flask-Mail reads its own settings in init_app: a new binding is a new state object.
    return _built("couriers", lambda: couriers_for(config, mail_state, db.session),
                  "DEV_OUTBOX", "MAIL_TIMEOUT_SECONDS", "MAIL_DEFAULT_SENDER", "TWILIO_ACCOUNT_SID",
                  "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "TWILIO_API_URL", "PUBLIC_URL", depends_on=mail_state)


def mailer():
    """The mail courier alone (password reset links)."""
    return couriers().mail


def default_portal_url() -> str:
    """PORTAL_URL, for practices that set no portal URL of their own."""
    return current_app.config["PORTAL_URL"]
