"""Masked contact details: enough for staff to recognise, too little to leak."""

from __future__ import annotations


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def mask_cell(ten_digits: str) -> str:
    return f"(•••) •••-{ten_digits[-4:]}"
