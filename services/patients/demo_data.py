"""Demo data for `make run` and `flask seed-demo`: one practice, a staff login and a few
hundred varied patients (siblings, teenagers, a Baby Boy, every portal status)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from models import Patient, PortalLink, PortalUser
from models.vocabulary import AccessLevel, PortalStatus
from services.delivery.carriers import find_carrier_by_name
from services.identity.staff import create_practice, create_staff, find_practice_by_name

DEMO_PRACTICE = "Maple Grove Pediatrics"
DEMO_USERNAME = "frontdesk"
DEMO_PASSWORD = "maple-grove-demo"
DEMO_PATIENT_COUNT = 300

LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Rodríguez",
    "Martínez", "Hernández", "López", "González", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Pérez", "Thompson", "White", "Harris", "Sánchez", "Clark",
    "Ramírez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
    "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Núñez", "O'Brien", "Smith-Jones", "Peña", "Müller", "Kowalski", "Patel", "Kim", "Chen",
]
GIVEN_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Charlotte", "James",
    "Ava", "William", "Isabella", "Benjamin", "Mia", "Lucas", "Evelyn", "Henry", "Harper", "Theodore",
    "Sofía", "Mateo", "Zoë", "José", "Chloé", "Renée", "Aiden", "Maya", "Jayden", "Layla", "Ethan",
    "Nora", "Leo", "Lily", "Ezra", "Aria", "Mason", "Hazel", "Logan", "Violet",
]
CARRIER_CHOICES = ["Verizon", "US Cellular", "Boost", "Google Fi", "AT&T", "T-Mobile", None]


@dataclass(frozen=True)
class DemoLogin:
    practice: str
    username: str
    password: str
    created: bool


def seed_demo(session: Session, today: date) -> DemoLogin:
    """Create the demo practice once; later calls only report the login."""
    if find_practice_by_name(session, DEMO_PRACTICE):
        return DemoLogin(DEMO_PRACTICE, DEMO_USERNAME, DEMO_PASSWORD, created=False)
    practice = create_practice(session, DEMO_PRACTICE, None, "America/New_York")
    create_staff(session, DEMO_USERNAME, DEMO_PASSWORD, practice, is_admin=True)
    rng = random.Random(20261126)
    carriers = {name: find_carrier_by_name(session, name) for name in CARRIER_CHOICES if name}

    chart = 1000
    made = 0
    while made < DEMO_PATIENT_COUNT:
        last = rng.choice(LAST_NAMES)
        family_email = f"{last.lower().replace(' ', '').replace(chr(39), '')}.family{chart}@example.com"
        family_email = family_email.encode("ascii", "ignore").decode()
        cell = f"617555{rng.randint(100, 199):03d}{rng.randint(0, 9)}"[:10]
        carrier_name = rng.choice(CARRIER_CHOICES)
        siblings = rng.choice([1, 1, 1, 2, 2, 3])
        for _ in range(siblings):
            chart += 1
            age_days = rng.randint(20, 18 * 365)
            patient = Patient(
                practice_id=practice.id,
                chart_number=f"MG{chart}",
                date_of_birth=today - timedelta(days=age_days),
                sex=rng.choice(["F", "M"]),
                guardian_email=family_email if rng.random() < 0.9 else None,
                guardian_cell=cell if carrier_name else None,
                guardian_cell_carrier_id=carriers[carrier_name].id if carrier_name else None,
                imported_portal_status=rng.choices(
                    [PortalStatus.UNREGISTERED, PortalStatus.PENDING, PortalStatus.SELF_REGISTERED, PortalStatus.REGISTERED],
                    weights=[70, 10, 8, 12],
                )[0],
            )
            patient.set_names(rng.choice(GIVEN_NAMES), last)
            session.add(patient)
            made += 1

    # Fixed patients that the walkthrough in README.md names.
    fixed = [
        ("MG0001", "Baby Boy", "Núñez", today - timedelta(days=3), True),
        ("MG0002", "Sofía", "Núñez", date(today.year - 14, 3, 14), False),
        ("MG0003", "Mateo", "Núñez", date(today.year - 7, 9, 2), False),
        ("MG0004", "Ava", "Okafor", date(today.year - 12, 1, 5), False),
    ]
    for chart_number, first, last, dob, unofficial in fixed:
        patient = Patient(
            practice_id=practice.id,
            chart_number=chart_number,
            date_of_birth=dob,
            sex="M" if first in ("Baby Boy", "Mateo") else "F",
            guardian_email="maria.nunez@example.com",
            guardian_cell="6175550143",
            guardian_cell_carrier_id=carriers["Verizon"].id,
            imported_portal_status=PortalStatus.UNREGISTERED,
            name_is_unofficial=unofficial,
        )
        patient.set_names(first, last)
        session.add(patient)
    session.flush()

    # A few portal users, so User search and the Registered status show something real.
    registered = (
        session.query(Patient)
        .filter(Patient.practice_id == practice.id, Patient.imported_portal_status == PortalStatus.REGISTERED)
        .order_by(Patient.id)
        .limit(12)
        .all()
    )
    for patient in registered:
        if not patient.guardian_email:
            continue
        user = session.query(PortalUser).filter_by(practice_id=practice.id, email=patient.guardian_email).one_or_none()
        if user is None:
            user = PortalUser(practice_id=practice.id, email=patient.guardian_email)
            session.add(user)
            session.flush()
        session.add(PortalLink(portal_user_id=user.id, patient_id=patient.id, access_level=AccessLevel.FULL))
    session.commit()
    return DemoLogin(DEMO_PRACTICE, DEMO_USERNAME, DEMO_PASSWORD, created=True)
