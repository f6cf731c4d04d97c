"""Who carries a welcome message: the mailer (SMTP, or the development mailbox) for emails and
carrier-gateway texts, and the SMS service (services/delivery/sms.py) for texts sent through it.
Each courier's `send(mail, practice_id)` returns the service's id for the message, if it has one,
or raises DeliveryFailed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from models.vocabulary import Channel
from services.delivery.mail_delivery import DeliveryFailed, OutgoingMail, mailer_for
from services.delivery.sms import TwilioSettings, TwilioTexter

NO_SMS_SERVICE = (
    "Not sent: this text goes through the SMS service, which is no longer configured "
    "(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM)."
)


class Courier(Protocol):
    def send(self, mail: OutgoingMail, practice_id: int) -> str | None: ...


class _NoSmsService:
    def send(self, mail: OutgoingMail, practice_id: int) -> str | None:
        raise DeliveryFailed(NO_SMS_SERVICE, permanent=True)


@dataclass(frozen=True)
class Couriers:
    mail: Courier
    sms: Courier | None = None

    @property
    def texts_through_sms_service(self) -> bool:
        """Whether a new text goes through the SMS service (no carrier needed) or a gateway."""
        return self.sms is not None

    def for_channel(self, channel: str) -> Courier:
        if channel == Channel.SMS:
            return self.sms or _NoSmsService()
        return self.mail


def couriers_for(config, mail_state, session) -> Couriers:
    settings = TwilioSettings.from_config(config)
    return Couriers(mail=mailer_for(config, mail_state, session), sms=TwilioTexter(settings) if settings else None)
