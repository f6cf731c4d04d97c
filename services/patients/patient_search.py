"""Patient and portal-user search for Patient Administration, always within one practice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, or_, select, union
from sqlalchemy.orm import Session, selectinload

from models import Patient, PortalLink, PortalUser
from models.names import search_key
from services.patients.portal_status import ALL_STATUSES, SEARCH_STATUSES, portal_status_expression, portal_status_filter

# Past the last code point, so `x >= p AND x < p + PREFIX_END` is "starts with p" byte-wise.
PREFIX_END = "\U0010ffff"
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class InvalidSearch(ValueError):
    """Carries messages keyed by field name, shown beside the fields."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class PatientSearch:
    last: str = ""  # search keys (models.names.search_key) of the typed names
    first: str = ""
    dob: date | None = None
    status: str = ALL_STATUSES
    page: int = 1

    @property
    def has_criteria(self) -> bool:
        return bool(self.last or self.first or self.dob) or self.status != ALL_STATUSES


@dataclass(frozen=True)
class PatientRow:
    patient: Patient
    status: str


@dataclass(frozen=True)
class SearchPage:
    rows: list
    page: int
    page_size: int
    has_more: bool


def parse_date_of_birth(raw: str) -> date:
    """Accepts YYYY-MM-DD (what <input type=date> sends) and MM/DD/YYYY."""
    raw = raw.strip()
    try:
        if m := _ISO_DATE.match(raw):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _US_DATE.match(raw):
            return date(int(m[3]), int(m[1]), int(m[2]))
    except ValueError:
        pass
    raise ValueError(raw)


# No one pages this far by hand; beyond it, an offset would overflow the databases' integers (a 500).
MAX_PAGE = 10_000


def page_number(raw: str | None) -> int:
    """A `page=` query value as 1..MAX_PAGE; anything else (empty, not a number) is page 1."""
    if not raw or not raw.isascii() or not raw.isdigit():
        return 1
    digits = raw.lstrip("0") or "0"
    return MAX_PAGE if len(digits) > len(str(MAX_PAGE)) else min(max(1, int(digits)), MAX_PAGE)


def parse_patient_search(args) -> PatientSearch:
    """From query-string arguments to a PatientSearch, or InvalidSearch with field messages."""
    errors: dict[str, str] = {}
    dob = None
    raw_dob = (args.get("dob") or "").strip()
    if raw_dob:
        try:
            dob = parse_date_of_birth(raw_dob)
        except ValueError:
            errors["dob"] = "Enter the date of birth as MM/DD/YYYY."
    status = (args.get("status") or ALL_STATUSES).strip()
    if status not in SEARCH_STATUSES:
        errors["status"] = "Choose a Search by option from the list."
    page = page_number(args.get("page"))
    if errors:
        raise InvalidSearch(errors)
    return PatientSearch(
        last=search_key(args.get("last") or "")[:100],
        first=search_key(args.get("first") or "")[:100],
        dob=dob,
        status=status,
        page=page,
    )


def _starts_with(column, prefix: str):
    return and_(column >= prefix, column < prefix + PREFIX_END)


# Results are in the search keys' order (models.names.search_key): the order of the indexes
# ix_patients_practice_last_key and ix_patients_practice_dob_key, so a page is read off them.
RESULT_ORDER = (Patient.last_name_key, Patient.first_name_key, Patient.id)


def _last_name_columns():
    # A surname matches by its whole key or by its last part's: `obrien` finds O'Brien, `smith
    # jones` Smith-Jones, and `lopez` García López (models.names).
    return (Patient.last_name_key, Patient.last_name_part_key)


def _other_criteria(search: PatientSearch) -> list:
    criteria = []
    if search.first:
        criteria.append(_starts_with(Patient.first_name_key, search.first))
    if search.dob:
        criteria.append(Patient.date_of_birth == search.dob)
    return criteria


def patient_criteria(search: PatientSearch) -> list:
    """The WHERE conditions of the names and date of birth searched for (benchmarks count with them)."""
    last = [or_(*(_starts_with(column, search.last) for column in _last_name_columns()))] if search.last else []
    return last + _other_criteria(search)


def search_patients(
    session: Session, practice_id: int, search: PatientSearch, now: datetime, page_size: int
) -> SearchPage:
    """One page of matching patients, ordered by name; one row more tells if more exist."""
    status_column = portal_status_expression(now).label("portal_status")
    skip = (search.page - 1) * page_size
    conditions = [Patient.practice_id == practice_id, *_other_criteria(search)]
    if search.status != ALL_STATUSES:
        conditions.append(portal_status_filter(search.status, now))
    if not search.last:
        query = select(Patient, status_column).where(*conditions).order_by(*RESULT_ORDER)
    else:
        # The matches of the whole surname's key, read in order off its index and cut to the
        # rows this page could need, and the (few: surnames of two parts) matches of the last
        # part's key, from its own index, the other criteria checked on the joined rows (given
        # them, SQLite would read the first name's index instead); the page is taken from the two
        # in name order. (An OR of the two ranges made SQLite walk the whole practice in order.)
        keys = (Patient.id, Patient.last_name_key, Patient.first_name_key)
        whole = (select(*keys).where(*conditions, _starts_with(Patient.last_name_key, search.last))
                 .order_by(*RESULT_ORDER).limit(skip + page_size + 1).subquery())
        part = select(*keys).where(Patient.practice_id == practice_id,
                                   _starts_with(Patient.last_name_part_key, search.last))
        hits = union(select(*whole.c), part).subquery()
        query = (select(Patient, status_column).join(hits, Patient.id == hits.c.id).where(*conditions)
                 .order_by(hits.c.last_name_key, hits.c.first_name_key, hits.c.id))
    query = query.offset(skip).limit(page_size + 1)
    rows = [PatientRow(patient, status) for patient, status in session.execute(query)]
    return SearchPage(rows=rows[:page_size], page=search.page, page_size=page_size, has_more=len(rows) > page_size)


def search_portal_users(
    session: Session, practice_id: int, email_prefix: str, page: int, page_size: int
) -> SearchPage:
    """Portal users of the practice whose email starts with the prefix, with their patients."""
    query = select(PortalUser).where(PortalUser.practice_id == practice_id)
    prefix = email_prefix.strip().lower()
    if prefix:
        query = query.where(_starts_with(PortalUser.email, prefix))
    query = (
        query.options(selectinload(PortalUser.links).selectinload(PortalLink.patient))
        .order_by(PortalUser.email, PortalUser.id)
        .offset((page - 1) * page_size)
        .limit(page_size + 1)
    )
    users = list(session.scalars(query))
    return SearchPage(rows=users[:page_size], page=page, page_size=page_size, has_more=len(users) > page_size)
