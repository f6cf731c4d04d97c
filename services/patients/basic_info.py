"""Update Basic Info: the patient's names as the practice-management system should hold them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import Patient
from models.vocabulary import AuditAction
from services import audit
from services.actor import Actor, unit_of_work
from services.patients.names import is_placeholder_first_name


def rename_patient(patient: Patient, first_name: str, last_name: str) -> None:
    """Saving a given name lifts the unofficial-name flag."""
    patient.set_names(first_name, last_name)
    if not is_placeholder_first_name(patient.first_name):
        patient.name_is_unofficial = False


def update_basic_info(session: Session, actor: Actor, patient: Patient, first_name: str, last_name: str) -> None:
    """The basic-info change of one of the actor's practice's patients, audited with it."""
    if patient.practice_id != actor.practice_id:
        raise ValueError("patient belongs to another practice")
    with unit_of_work(session):
        rename_patient(patient, first_name, last_name)
        audit.record(session, actor, AuditAction.BASIC_INFO_CHANGE, patient_id=patient.id, detail="first and last name")
