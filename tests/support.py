"""Helpers shared by the tests: a real SMTP sink, data builders and HTML readers."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from types import SimpleNamespace

from aiosmtpd.controller import Controller

from sqlalchemy import exists, func, or_, select

from extensions import db
from models import Patient, PortalLink, Practice, RegistrationCredential
from models.credential import MAX_FAILED_ATTEMPTS
from services.staff import PASSWORD_HASH_METHOD, create_practice, create_staff

STAFF_PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mailbox:
    """What the loopback SMTP server received, parsed like a mail client would."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parsed["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()


def start_smtp_server() -> tuple[Controller, Mailbox]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, mailbox


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def snapshot(row) -> SimpleNamespace:
    """A detached, plain copy of a row's columns: tests read it outside any app context."""
    return SimpleNamespace(**{column.key: getattr(row, column.key) for column in row.__table__.columns})


def make_practice(app, name: str = "Cedar Pediatrics", timezone: str = "America/New_York", **fields):
    with app.app_context():
        practice = create_practice(db.session, name, fields.pop("portal_url", None), timezone)
        for key, value in fields.items():
            setattr(practice, key, value)
        db.session.commit()
        return snapshot(practice)


def make_staff(app, practice, username: str = "alex", admin: bool = False) -> int:
    with app.app_context():
        staff = create_staff(
            db.session, username, STAFF_PASSWORD, db.session.get(Practice, practice.id), admin,
            hash_method=app.config.get("HASH_METHOD", PASSWORD_HASH_METHOD),
        )
        db.session.commit()
        return staff.id


_chart = iter(range(10_000, 10_000_000))


def make_patient(app, practice, first: str = "Emma", last: str = "Carter", dob: date = date(2018, 5, 17), **fields):
    with app.app_context():
        patient = Patient(
            practice_id=practice.id,
            chart_number=fields.pop("chart_number", f"C{next(_chart)}"),
            date_of_birth=dob,
            guardian_email=fields.pop("guardian_email", "parent@example.com"),
            imported_portal_status=fields.pop("imported_portal_status", "unregistered"),
            name_is_unofficial=fields.pop("name_is_unofficial", False),
            **fields,
        )
        patient.set_names(first, last)
        db.session.add(patient)
        db.session.commit()
        return snapshot(patient)


def sign_in(client, username: str = "alex", password: str = STAFF_PASSWORD):
    page = client.get("/signin")
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post("/signin", data={"username": username, "password": password, "csrf_token": token})


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)


def idempotency_key_from(html: str) -> str:
    match = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', html)
    assert match, "window carries no idempotency key"
    return match.group(1)


def pin_from(html: str) -> str:
    match = re.search(r'class="pin">([0-9A-Z]{4}-[0-9A-Z]{4})<', html)
    assert match, "no PIN shown"
    return match.group(1)


def portal_status_inputs_disagreeing(session) -> list[int]:
    """Patients whose trigger-kept portal_linked / pin_active_until differ from what the links
    and credentials say (computed here the slow way, with subqueries). [] when all agree."""
    linked = exists(select(PortalLink.id).where(PortalLink.patient_id == Patient.id))
    active_until = (
        select(func.max(RegistrationCredential.expires_at))
        .where(
            RegistrationCredential.patient_id == Patient.id,
            RegistrationCredential.used_at.is_(None),
            RegistrationCredential.revoked_at.is_(None),
            RegistrationCredential.failed_attempts < MAX_FAILED_ATTEMPTS,
        )
        .scalar_subquery()
    )
    wrong = or_(Patient.portal_linked != linked, Patient.pin_active_until.is_distinct_from(active_until))
    return list(session.scalars(select(Patient.id).where(wrong).order_by(Patient.id)))
