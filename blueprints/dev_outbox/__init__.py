"""The development outbox: with MAIL_SERVER unset, every message lands here, shown like a
mailbox. This blueprint is registered only in that mode, never with a mail server. It shows
active PINs, so only the practice's admins see it (the front desk sees a PIN once, on issuing)."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from sqlalchemy import select

from blueprints.access import admin_required
from blueprints.extensions import db
from models import DevMailboxMessage

bp = Blueprint("dev_outbox", __name__, url_prefix="/dev")


@bp.get("/outbox")
@admin_required
def index():
    """Outbox page (full page): the practice's messages, newest first; 403 for staff who are not
    admins of the practice."""
    messages = db.session.scalars(
        select(DevMailboxMessage)
        .where(DevMailboxMessage.practice_id == g.staff_context.practice_id)
        .order_by(DevMailboxMessage.id.desc())
        .limit(100)
    )
    return render_template("dev_outbox/index.html", messages=list(messages))
