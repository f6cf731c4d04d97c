"""Dates as the practice sees them: 'today' and ages in the practice's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from models import Practice

MINOR_SELF_REGISTRATION_AGE = 12


def practice_today(practice: Practice, now: datetime) -> date:
    return practice_today_in(practice.timezone, now)


def practice_today_in(timezone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def age_in_years(date_of_birth: date, today: date) -> int:
    years = today.year - date_of_birth.year
    if (today.month, today.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def age_in_months(date_of_birth: date, today: date) -> int:
    months = (today.year - date_of_birth.year) * 12 + today.month - date_of_birth.month
    if today.day < date_of_birth.day:
        months -= 1
    return months


def age_description(date_of_birth: date, today: date) -> str:
    years = age_in_years(date_of_birth, today)
    if years >= 2:
        return f"{years} years"
    months = max(0, age_in_months(date_of_birth, today))
    return f"{months} month" if months == 1 else f"{months} months"


def may_receive_own_pin(date_of_birth: date, today: date) -> bool:
    """Send to (Parent/Guardian or Minor) is offered from the 12th birthday on."""
    return age_in_years(date_of_birth, today) >= MINOR_SELF_REGISTRATION_AGE


def format_local_in(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%b} {local.day}, {local.year} {local:%I:%M %p %Z}".replace(" 0", " ")
