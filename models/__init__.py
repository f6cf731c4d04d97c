"""Typed SQLAlchemy 2 models, one module per aggregate."""

from models.audit import AuditEvent
from models.base import db, utcnow
from models.carrier import Carrier
from models.credential import RegistrationCredential
from models.message import DeliveryEvent, DevMailboxMessage, WaitingReceipt, WelcomeMessage
from models.message_template import MessageTemplate
from models.patient import Patient
from models.portal_session import PasswordReset, PortalSession
from models.portal_user import PortalLink, PortalUser
from models.practice import Practice, StaffMembership, StaffUser
from models.staff_session import SpentLaunchToken, StaffSession
from models.throttle import Throttle

__all__ = [
    "AuditEvent",
    "Carrier",
    "DeliveryEvent",
    "DevMailboxMessage",
    "MessageTemplate",
    "PasswordReset",
    "Patient",
    "PortalLink",
    "PortalSession",
    "PortalUser",
    "Practice",
    "RegistrationCredential",
    "SpentLaunchToken",
    "StaffMembership",
    "StaffSession",
    "StaffUser",
    "Throttle",
    "WaitingReceipt",
    "WelcomeMessage",
    "db",
    "utcnow",
]
