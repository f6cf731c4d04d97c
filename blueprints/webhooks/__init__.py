"""Webhooks: requests from outside services, not from people. Each is signed by its service
instead of carrying a CSRF token, and uses no session: it neither needs nor sets a cookie.

`POST /webhooks/twilio/status` takes Twilio's status callbacks for the texts the SMS service
sends (services/delivery/sms.py creates each with this URL as its StatusCallback).

Not rate-limited (blueprints/rate_limits.py marks no view here): Twilio posts every text's
callbacks from a shared pool of addresses and by default does not post a refused one again, so a 429 would
lose a receipt for good. What an unsigned flood costs is one HMAC per request, checked before any
query runs."""

from __future__ import annotations

import contextlib

from flask import Blueprint, Response, current_app, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from blueprints.access import clock
from blueprints.errors import CSRF_REFUSAL
from blueprints.extensions import csrf, db
from services.delivery.reports import apply_sms_status
from services.delivery.sms import TwilioSettings, callback_signed, parse_error_code, plausible_message_sid

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _plain(status: int, text: str = "") -> Response:
    # Our own bare answers: the error pages' layout would read the staff session.
    return Response(text, status=status, mimetype="text/plain")


def _plain_error(error: HTTPException) -> Response:
    """A refusal before or inside a webhook's view (a NUL byte, a body too large, a failure):
    a bare answer too, as the app's error pages would start a session to render."""
    if error.code >= 500:
        with contextlib.suppress(Exception):
            db.session.rollback()
    response = _plain(error.code or 500, CSRF_REFUSAL if isinstance(error, CSRFError) else error.name)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


# By status, as the app registers its own pages (blueprints/errors.py): a blueprint's handler for
# a status is found before the app's.
for _status in (400, 403, 404, 405, 409, 413, 429, 500):
    bp.register_error_handler(_status, _plain_error)


@bp.post("/twilio/status")
@csrf.exempt
def twilio_status():
    """A delivery receipt from Twilio. 403 (nothing read) unless Twilio is configured and
    `X-Twilio-Signature` signs these parameters over PUBLIC_URL's callback URL; 400 without a
    MessageSid or MessageStatus; otherwise 204, for a text of ours or not (a receipt for a
    text not known yet is kept a while: services/delivery/reports.py)."""
    settings = TwilioSettings.from_config(current_app.config)
    if settings is None or not callback_signed(settings, request.form, request.headers.get("X-Twilio-Signature")):
        return _plain(403, "Not signed by the SMS service.")
    sid, status = request.form.get("MessageSid", ""), request.form.get("MessageStatus", "")
    if not plausible_message_sid(sid) or not status or len(status) > 32:
        return _plain(400, "MessageSid and MessageStatus are required.")
    apply_sms_status(db.session, sid, status, parse_error_code(request.form.get("ErrorCode")), clock())
    return _plain(204)
