"""Update Basic Info: the patient's names as the practice-management system should hold them."""

from __future__ import annotations

from models import Patient
from services.names import is_placeholder_first_name


def rename_patient(patient: Patient, first_name: str, last_name: str) -> None:
    """Basic info change: saving a given name lifts the unofficial-name flag."""
    patient.set_names(first_name, last_name)
    if not is_placeholder_first_name(patient.first_name):
        patient.name_is_unofficial = False
