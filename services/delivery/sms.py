"""Texts through an SMS service: Twilio's Messaging API, with the `twilio` SDK.

Carrier email-to-SMS gateways are closing (DOMAIN.md); with TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
and TWILIO_FROM set, a text goes to the parent's number through Twilio and its delivery is
reported back to `/webhooks/twilio/status` (blueprints/webhooks). The SDK keeps its base URL to
itself, so TWILIO_API_URL (a fake on loopback, in tests) is applied through the SDK's public
`http_client` hook: a client that puts that scheme and host on every request it sends.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from services.delivery.hosts import is_loopback_host
from services.delivery.mail_delivery import DeliveryFailed, OutgoingMail, unreachable_reason

DEFAULT_API_URL = "https://api.twilio.com"
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"

# Twilio's error codes that staff meet, in plain words (https://www.twilio.com/docs/api/errors).
# Some come back from the create call itself, others in the status callback.
_PLAIN_WORDS = {
    21211: "The cell phone number is not a valid phone number.",
    21408: "Texts to this region are not enabled for the practice's Twilio account.",
    21610: "The parent has opted out of texts from the practice (they replied STOP).",
    21612: "Twilio cannot send texts to this number from the practice's number.",
    21614: "This number is not a mobile number, so it cannot receive texts.",
    30003: "The phone could not be reached (it may be switched off or out of service).",
    30004: "The number is blocked from receiving this text.",
    30005: "The number does not exist, or is no longer in service.",
    30006: "This number is a landline or cannot receive texts.",
    30007: "The carrier filtered the text as unwanted.",
    30008: "The carrier could not deliver the text (unknown error).",
    30034: "The practice's number is not registered for A2P 10DLC, so US carriers block its texts.",
}
OPTED_OUT = 21610
# Refusals of the create call that sending the same text again cannot help.
_PERMANENT_REFUSALS = {21211, 21408, 21610, 21612, 21614}


def plain_reason(code: int | None, fallback: str = "The text was not delivered.") -> str:
    """Staff's words for a Twilio error code, with its number; an unknown code by its number."""
    if code is None:
        return fallback
    words = _PLAIN_WORDS.get(code)
    return f"{words} (Twilio error {code})" if words else f"{fallback} (Twilio error {code})"


class TextRefused(DeliveryFailed):
    """The SMS service refused or could not deliver the text; `code` is Twilio's error code."""

    def __init__(self, reason: str, permanent: bool, code: int | None):
        super().__init__(reason, permanent=permanent)
        self.code = code

    @property
    def opted_out(self) -> bool:
        return self.code == OPTED_OUT

    @property
    def log_summary(self) -> str:
        kind = "permanent" if self.permanent else "temporary"
        return f"{kind} failure (Twilio {self.code})"


class _ApiUrlClient(TwilioHttpClient):
    """Sends every request to `api_url`'s scheme and host, keeping the SDK's path and query."""

    def __init__(self, api_url: str, timeout: float):
        # The SDK logs each request's URL and headers at INFO: kept out of the app's logs.
        quiet = logging.getLogger(__name__ + ".sdk")
        quiet.setLevel(logging.WARNING)
        super().__init__(timeout=timeout, logger=quiet)
        target = urlsplit(api_url)
        self._scheme, self._netloc = target.scheme, target.netloc

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        parts = urlsplit(url)
        url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                               timeout=timeout, allow_redirects=allow_redirects)


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    sender: str  # an E.164 number, or a Messaging Service SID (MG…)
    api_url: str
    status_callback: str  # PUBLIC_URL + STATUS_CALLBACK_PATH
    timeout: float

    @classmethod
    def from_config(cls, config) -> TwilioSettings | None:
        """None unless TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM are all set."""
        sid, token, sender = (config.get(name) for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"))
        if not (sid and token and sender):
            return None
        return cls(
            account_sid=sid, auth_token=token, sender=sender,
            api_url=config.get("TWILIO_API_URL") or DEFAULT_API_URL,
            status_callback=status_callback_url(config["PUBLIC_URL"]),
            timeout=float(config["MAIL_TIMEOUT_SECONDS"]),
        )


class TwilioMisconfigured(ValueError):
    """A Twilio setting that would put the practice's auth token at risk: the app does not start."""


def check_twilio_config(config) -> str | None:
    """With Twilio configured: TwilioMisconfigured for a TWILIO_API_URL that is not https (every
    request carries the auth token; plain http only to a fake on loopback); a warning, to log,
    when PUBLIC_URL is one Twilio cannot reach (loopback), so no receipt would ever arrive."""
    settings = TwilioSettings.from_config(config)
    if settings is None:
        return None
    api = urlsplit(settings.api_url)
    if not api.hostname or (api.scheme != "https" and not (api.scheme == "http" and is_loopback_host(api.hostname))):
        raise TwilioMisconfigured(
            "TWILIO_API_URL must be an https:// URL (it is https://api.twilio.com unless set): every request to "
            "it carries the Twilio auth token. Plain http:// is accepted only for a test server on loopback."
        )
    public = urlsplit(settings.status_callback)
    if is_loopback_host(public.hostname) or public.scheme != "https":
        return (
            f"PUBLIC_URL is {config['PUBLIC_URL']}, which Twilio cannot reach over HTTPS: texts will be sent, but "
            "no delivery receipt will ever arrive, so they stay Sent. Set PUBLIC_URL to this app's public "
            "https:// address (README: Texts through Twilio)."
        )
    return None


def status_callback_url(public_url: str) -> str:
    parts = urlsplit(public_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + STATUS_CALLBACK_PATH, "", ""))


def callback_signed(settings: TwilioSettings, params: Mapping, signature: str | None) -> bool:
    """Whether `signature` (X-Twilio-Signature) is Twilio's, with this account's auth token, over
    the callback URL the text was created with (PUBLIC_URL's, never the request's own Host) and
    every posted parameter."""
    if not signature:
        return False
    return RequestValidator(settings.auth_token).validate(settings.status_callback, params, signature)


# A Message SID: SM (or MM for a picture message) and 32 hex digits; the column holds 64.
_MESSAGE_SID = re.compile(r"[SM]M[0-9a-fA-F]{32}")


def plausible_message_sid(value: str) -> bool:
    return bool(_MESSAGE_SID.fullmatch(value))


def parse_error_code(value: str | None) -> int | None:
    """A callback's ErrorCode; None when absent or not a code (Twilio's have five digits), so a
    receipt is still applied, with the words for an unknown failure."""
    value = (value or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        return None
    return int(value) or None


def e164_us(cell: str) -> str:
    """Ten US digits as Twilio wants them: +1 and the digits."""
    return f"+1{cell}"


def refusal(status: int, code: object) -> TextRefused:
    """The create call's error answer (HTTP `status`, Twilio's error `code`) as staff read it."""
    # The SDK puts the HTTP status where an answer it could not read had no code of its own.
    code = code if isinstance(code, int) and not isinstance(code, bool) and code != status else None
    if code in _PERMANENT_REFUSALS:
        return TextRefused(plain_reason(code), True, code)
    if status >= 500:
        words = f"The SMS service had a problem (HTTP {status})."
        return TextRefused(f"{words[:-1]}; Twilio error {code})." if code else words, False, code)
    if status in (401, 403):
        # Wrong credentials are fixed in the configuration, not by the parent: tried again later.
        return TextRefused(f"The SMS service did not accept the practice's Twilio credentials (HTTP {status}).",
                           False, code)
    if status == 429:
        return TextRefused("The SMS service asked us to slow down (HTTP 429).", False, code)
    reason = plain_reason(code, "The SMS service refused the text.") if code else (
        f"The SMS service refused the text (HTTP {status}).")
    return TextRefused(reason, 400 <= status < 500, code)


class TwilioTexter:
    """Creates each text with Twilio's Messages API and returns its MessageSid."""

    def __init__(self, settings: TwilioSettings):
        self.settings = settings
        # The SDK's own TWILIO_EDGE / TWILIO_REGION would only change the host, which the client replaces.
        self.client = Client(settings.account_sid, settings.auth_token,
                             http_client=_ApiUrlClient(settings.api_url, settings.timeout))

    def send(self, mail: OutgoingMail, practice_id: int) -> str:
        sender = self.settings.sender
        route = {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}
        try:
            created = self.client.messages.create(
                to=mail.recipient, body=mail.text, status_callback=self.settings.status_callback, **route
            )
        except (TwilioRestException, TwilioServiceException) as refused:
            raise refusal(refused.status, refused.code) from None
        except requests.Timeout:
            raise TextRefused("The SMS service did not answer in time.", False, None) from None
        except (requests.RequestException, TwilioException, OSError) as error:
            raise TextRefused(unreachable_reason(error, "SMS service"), False, None) from None
        return created.sid
