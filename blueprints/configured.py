"""The parts, built from the app's configuration, that views hand to service calls: the keys
kept outside the database, the outbox cipher, the mailer and the default portal URL."""

from __future__ import annotations

from flask import current_app

from extensions import db
from services.mail_delivery import mailer_for
from services.message_cipher import MessageCipher
from services.registration import SigningKeys


def signing_keys() -> SigningKeys:
    return SigningKeys.from_config(current_app.config)


def message_cipher() -> MessageCipher:
    return MessageCipher.from_config(current_app.config)


def mailer():
    """SMTP with the configured deadline, or the development outbox."""
    return mailer_for(current_app.config, current_app.extensions["mail"], db.session)


def default_portal_url() -> str:
    """PORTAL_URL, for practices that set no portal URL of their own."""
    return current_app.config["PORTAL_URL"]
