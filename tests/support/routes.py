"""Walking `app.url_map`: every rule with its methods, URLs with sample ids filled in, and a small
practice whose real objects give those ids (a patient with a PIN and its welcome message, a second
staff member, a parent signed in to the portal). The hostile-input and CSRF walks share it, so a
new route is in both walks the day it is added; an argument nobody knows how to fill fails them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select

from blueprints.extensions import db
from models import RegistrationCredential, WelcomeMessage
from tests.support.builders import make_patient, make_practice, make_staff
from tests.support.html_readers import csrf_token_from, pin_from
from tests.support.portal import register
from tests.support.staff_screens import issue, sign_in

IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sample values for the rules' non-id arguments.
OTHER_ARGUMENTS = {"kind": "email", "filename": "css/app.css"}
_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@dataclass(frozen=True)
class Route:
    rule: str  # as written in the url_map, e.g. /patients/<id:patient_id>
    endpoint: str
    methods: tuple[str, ...]
    arguments: tuple[str, ...]

    @property
    def id_arguments(self) -> tuple[str, ...]:
        return tuple(name for name in self.arguments if name not in OTHER_ARGUMENTS)

    def url(self, ids: dict[str, int | str], **replacing: str) -> str:
        """The rule with `ids` (and the samples for other arguments) filled in; `replacing` gives
        any argument a raw path segment instead (hostile ids)."""

        def fill(match: re.Match) -> str:
            name = match.group(2)
            if name in replacing:
                return replacing[name]
            return str(OTHER_ARGUMENTS[name] if name in OTHER_ARGUMENTS else ids[name])

        return _ARGUMENT.sub(fill, self.rule)

    def __str__(self) -> str:
        return f"{','.join(self.methods)} {self.rule} ({self.endpoint})"


def walk_routes(app, known_ids: tuple[str, ...]) -> list[Route]:
    """Every rule of the url_map, with the methods it takes (but HEAD and OPTIONS). A rule with an
    argument that is neither in `known_ids` nor in OTHER_ARGUMENTS fails the calling test."""
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        unknown = sorted(set(rule.arguments) - set(known_ids) - set(OTHER_ARGUMENTS))
        if unknown:
            pytest.fail(f"{rule.rule} ({rule.endpoint}) takes {unknown}: give tests/support/routes.py a sample for it")
        methods = tuple(sorted(set(rule.methods or ()) - IGNORED_METHODS))
        arguments = tuple(match.group(2) for match in _ARGUMENT.finditer(rule.rule))
        routes.append(Route(rule.rule, rule.endpoint, methods, arguments))
    return routes


def state_changing_routes(app, known_ids: tuple[str, ...]) -> list[tuple[Route, str]]:
    return [(route, method) for route in walk_routes(app, known_ids) for method in route.methods
            if method in STATE_CHANGING_METHODS]


@dataclass
class SampleWorld:
    """One practice (Cedar) with real objects behind every id argument, and its three kinds of
    client: anonymous, its admin (alex), and a parent signed in to the portal."""

    ids: dict[str, int]
    anonymous: object
    staff: object
    parent: object

    def clients(self) -> dict[str, object]:
        return {"anonymous": self.anonymous, "staff": self.staff, "parent": self.parent}


KNOWN_IDS = ("patient_id", "credential_id", "message_id", "staff_id")


def _latest_credential_and_message(app, patient_id: int) -> tuple[int, int]:
    with app.app_context():
        credential = db.session.scalar(
            select(func.max(RegistrationCredential.id)).where(RegistrationCredential.patient_id == patient_id)
        )
        message = db.session.scalar(select(WelcomeMessage.id).where(WelcomeMessage.credential_id == credential))
        db.session.remove()
    return credential, message


def build_sample_world(app) -> SampleWorld:
    practice = make_practice(app)
    make_staff(app, practice, admin=True)
    other_staff = make_staff(app, practice, username="robin")
    staff = app.test_client()
    assert sign_in(staff).status_code == 302
    staff.csrf_token = csrf_token_from(staff.get("/patients").get_data(as_text=True))

    child = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    assert issue(staff, child.id, email="dana.carter@example.com").status_code == 200
    credential, message = _latest_credential_and_message(app, child.id)

    linked = make_patient(app, practice, "Leo", "Carter", date(2016, 1, 2))
    pin = pin_from(issue(staff, linked.id, email="dana.carter@example.com").get_data(as_text=True))
    parent = app.test_client()
    assert register(parent, pin, "2016-01-02", email="dana.carter@example.com").status_code == 303
    parent.csrf_token = csrf_token_from(parent.get("/portal/children/add").get_data(as_text=True))

    anonymous = app.test_client()
    anonymous.csrf_token = csrf_token_from(anonymous.get("/signin").get_data(as_text=True))
    ids = {"patient_id": child.id, "credential_id": credential, "message_id": message, "staff_id": other_staff}
    return SampleWorld(ids, anonymous, staff, parent)


def row_counts(app) -> dict[str, int]:
    """How many rows each table holds."""
    with app.app_context():
        counts = {table.name: db.session.scalar(select(func.count()).select_from(table))
                  for table in db.metadata.sorted_tables}
        db.session.remove()
    return counts
