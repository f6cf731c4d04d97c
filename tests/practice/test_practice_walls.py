"""The wall between practices, for every route that takes an id (a review asked for "a test that cannot miss
a new route": it walks `app.url_map`, calls every route that takes an id with another
practice's ids, and requires 404).

Practice B (Birch) gets a full set of real objects, made the way staff and parents make them:
patients, PINs, a welcome message in every delivery state (sent, queued with its body held,
failed), a parent's portal account. Then, signed in to practice A (Cedar) only, every rule of the
url_map with an id argument is called, with every method it takes, with B's ids (alone and mixed
with A's own), and must answer 404 and change nothing of B's, nor send any mail. The same routes
with A's own ids must not be 404, so that the 404 comes from the wall and not from a broken route.

A rule with an id argument this test does not know how to fill fails the test, so a new route
cannot slip past it; a rule that silently drops out lowers the count below MIN_COVERED_RULES."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, UUIDConverter

from blueprints.extensions import db
from models import RegistrationCredential, WelcomeMessage, utcnow
from tests.support.builders import make_patient, make_practice, make_staff
from tests.support.html_readers import csrf_token_from, pin_from
from tests.support.mail import point_mail_at
from tests.support.network import free_port
from tests.support.portal import register
from tests.support.staff_screens import HX, issue, sign_in

# The id arguments this test can fill, each with a real object of B's and of A's. A rule with any
# other id argument fails the test until its object is added to build_world and to Case.
KNOWN_ID_ARGUMENTS = ("patient_id", "credential_id", "message_id", "staff_id")
# Today's count of rules (and of rule + method pairs) with id arguments; a route that drops out
# of the walk (renamed converter, a blueprint no longer registered) shows here.
MIN_COVERED_RULES = 10
MIN_COVERED_CALLS = 11
IGNORED_METHODS = {"HEAD", "OPTIONS"}
# Which signed-in client of practice A calls a blueprint's routes: the Patient Portal is a
# parent's; everything else is staff's. A new area that is neither fails with a redirect, not 404.
PARENT_BLUEPRINTS = {"portal"}

# A form that would do damage if the wall were missing: a revoke reason under every prefix the
# account page uses, a new name, a complete Patient Registration window that sends by email.
PLAUSIBLE_FORM = {
    "reason": "Parent asked",
    "revoke-guardian-reason": "Parent asked",
    "revoke-minor-reason": "Parent asked",
    "first_name": "Mallory",
    "last_name": "Intruder",
    "method": "pin",
    "access": "full",
    "send_by": "email",
    "email": "intruder@example.com",
    "send_to": "guardian",
    "action": "send",
}


@dataclass(frozen=True)
class Case:
    """One patient's ids: the patient, its PIN, and that PIN's welcome message; and a staff
    member of the practice (B's: someone A's admin must not be able to remove)."""

    label: str
    patient_id: int
    credential_id: int
    message_id: int
    staff_id: int

    def ids(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in KNOWN_ID_ARGUMENTS}


@dataclass
class World:
    a_practice_id: int
    b_practice_id: int
    b_cases: list[Case]  # B's patients, one per message state, and one registered
    a_staff_case: Case  # A's patient with an active PIN and a sent message
    a_parent_case: Case  # A's patient linked to A's parent (My Chart opens)
    staff: object = None  # A's signed-in staff client
    parent: object = None  # A's signed-in parent client
    b_active_credentials: set[int] = field(default_factory=set)


def signed_in_staff(app, username: str, practice_id: int | None = None):
    """A client signed in as `username`; with `practice_id`, chosen at /practice/choose."""
    client = app.test_client()
    signed = sign_in(client, username=username)
    assert signed.status_code == 302, signed.get_data(as_text=True)
    if practice_id is not None:
        assert signed.headers["Location"].startswith("/practice/choose")
        token = csrf_token_from(client.get("/practice/choose").get_data(as_text=True))
        chosen = client.post("/practice/choose", data={"practice_id": practice_id, "csrf_token": token})
        assert chosen.status_code == 302
    page = client.get("/patients")
    assert page.status_code == 200
    client.csrf_token = csrf_token_from(page.get_data(as_text=True))
    return client


def signed_in_parent(app, pin: str, dob: date, email: str):
    """A fresh client whose parent registers with `pin` and stays signed in to the portal."""
    client = app.test_client()
    registered = register(client, pin, dob.isoformat(), email=email)
    assert registered.status_code == 303, registered.get_data(as_text=True)
    page = client.get("/portal/children/add")
    assert page.status_code == 200
    client.csrf_token = csrf_token_from(page.get_data(as_text=True))
    return client


def issued(app, client, patient, email: str, **fields) -> tuple[str, int, int]:
    """Issue a PIN by email through the window; (the PIN shown, credential id, message id)."""
    response = issue(client, patient.id, email=email, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    pin = pin_from(response.get_data(as_text=True))
    with app.app_context():
        credential = db.session.scalars(
            select(RegistrationCredential)
            .where(RegistrationCredential.patient_id == patient.id)
            .order_by(RegistrationCredential.id.desc())
        ).first()
        message = db.session.scalar(select(WelcomeMessage).where(WelcomeMessage.credential_id == credential.id))
        ids = credential.id, message.id
        db.session.remove()
    return pin, *ids


def message_states(app, practice_id: int) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(
            select(WelcomeMessage.id, WelcomeMessage.status).where(WelcomeMessage.practice_id == practice_id)
        ).all()
        db.session.remove()
    return dict(rows)


def active_credentials(app, practice_id: int) -> set[int]:
    now = utcnow()
    with app.app_context():
        rows = db.session.scalars(
            select(RegistrationCredential).where(RegistrationCredential.practice_id == practice_id)
        ).all()
        active = {row.id for row in rows if row.state(now) == "Active"}
        db.session.remove()
    return active


def build_world(app, mailbox, refusing_port: int, actor: str) -> World:
    """Practice A (Cedar) and practice B (Birch), each with real objects made over HTTP."""
    a = make_practice(app)
    b = make_practice(app, "Birch Family Medicine")
    sink = app.config["MAIL_PORT"]

    # B: made by B's own staff member, as B's front desk would.
    blair = make_staff(app, b, username="blair")
    b_staff = signed_in_staff(app, "blair")
    b_cases = []

    def b_patient(first: str, dob: date):
        return make_patient(app, b, first, "Birch", dob, guardian_email=f"{first.lower()}.parent@example.com")

    sent = b_patient("Liam", date(2017, 2, 3))
    _, credential, message = issued(app, b_staff, sent, "liam.parent@example.com")
    b_cases.append(Case("B: active PIN, message sent", sent.id, credential, message, blair))

    queued = b_patient("Noah", date(2016, 6, 7))
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens there: queued, body held
    _, credential, message = issued(app, b_staff, queued, "noah.parent@example.com")
    b_cases.append(Case("B: active PIN, message queued (body held)", queued.id, credential, message, blair))

    failed = b_patient("Ava", date(2015, 8, 9))
    point_mail_at(app, MAIL_PORT=refusing_port)  # 550: failed at once, Print instead offered
    _, credential, message = issued(app, b_staff, failed, "ava.parent@example.com")
    b_cases.append(Case("B: active PIN, message failed", failed.id, credential, message, blair))
    point_mail_at(app, MAIL_PORT=sink)

    registered = b_patient("Mia", date(2014, 10, 11))
    pin, credential, message = issued(app, b_staff, registered, "mia.parent@example.com")
    signed_in_parent(app, pin, registered.date_of_birth, "mia.parent@example.com")
    b_cases.append(Case("B: registered (PIN used, parent linked)", registered.id, credential, message, blair))

    assert sorted(message_states(app, b.id).values()) == ["failed", "queued", "sent", "sent"]
    assert len(mailbox.messages) == 2  # Liam's and Mia's welcome messages reached the sink

    # A: the actor's own practice.
    if actor == "admin of A only":
        actor_id = make_staff(app, a, username="alex", admin=True)
        staff = signed_in_staff(app, "alex")
    else:  # a member (admin even) of both practices, working in A: the wall is the chosen practice
        actor_id = make_staff(app, a, username="morgan", admin=True)
        make_staff(app, b, username="morgan", admin=True)
        staff = signed_in_staff(app, "morgan", practice_id=a.id)
    child = make_patient(app, a, "Emma", "Carter", date(2018, 5, 17))
    _, credential, message = issued(app, staff, child, "dana.carter@example.com")
    a_staff_case = Case("A: active PIN, message sent", child.id, credential, message, actor_id)
    linked = make_patient(app, a, "Leo", "Carter", date(2016, 1, 2))
    pin, credential, message = issued(app, staff, linked, "dana.carter@example.com")
    parent = signed_in_parent(app, pin, linked.date_of_birth, "dana.carter@example.com")
    a_parent_case = Case("A: registered, linked to A's parent", linked.id, credential, message, actor_id)

    world = World(a.id, b.id, b_cases, a_staff_case, a_parent_case, staff, parent)
    world.b_active_credentials = active_credentials(app, b.id)
    assert len(world.b_active_credentials) == 3  # Liam's, Noah's, Ava's
    return world


def database_snapshot(app, b_practice_id: int) -> tuple[dict[str, dict[tuple, tuple]], dict[str, list[str]]]:
    """Every row of every table, by primary key; of the sessions and the audit trail (which A's
    own requests write to), only B's rows."""
    with app.app_context():
        state = {}
        for table in db.metadata.sorted_tables:
            query = select(table)
            if table.name in ("staff_sessions", "audit_events"):
                query = query.where(table.c.practice_id == b_practice_id)
            keys = list(table.primary_key.columns)
            rows = db.session.execute(query).all()
            state[table.name] = {
                tuple(row._mapping[key] for key in keys): tuple(row) for row in rows
            }
        columns = {table.name: [column.name for column in table.columns] for table in db.metadata.sorted_tables}
        db.session.remove()
    return state, columns


def describe_changes(before, after, columns) -> list[str]:
    """Which rows appeared, disappeared or changed (column names only: no PINs in reports)."""
    changes = []
    for table, rows in before.items():
        now = after[table]
        for key in sorted(now.keys() - rows.keys()):
            changes.append(f"{table}: new row {key}")
        for key in sorted(rows.keys() - now.keys()):
            changes.append(f"{table}: row {key} gone")
        for key in sorted(rows.keys() & now.keys()):
            if rows[key] != now[key]:
                changed = [name for name, old, new in zip(columns[table], rows[key], now[key]) if old != new]
                changes.append(f"{table}: row {key} changed {changed}")
    return changes


@dataclass(frozen=True)
class Route:
    rule: object
    endpoint: str
    id_arguments: tuple[str, ...]
    methods: tuple[str, ...]
    actor: str  # "staff" or "parent"

    @property
    def text(self) -> str:
        return f"{','.join(self.methods)} {self.rule.rule} ({self.endpoint}, as A's {self.actor})"


def is_id_argument(rule, name: str) -> bool:
    converter = rule._converters.get(name)
    return isinstance(converter, (IntegerConverter, UUIDConverter)) or name == "id" or name.endswith("_id")


def routes_with_ids(app) -> tuple[list[Route], list[str]]:
    """The url_map's rules with id arguments (fails on one it cannot fill), and the rules left out."""
    covered, out_of_scope = [], []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        methods = tuple(sorted(set(rule.methods or ()) - IGNORED_METHODS))
        ids = tuple(sorted(name for name in rule.arguments if is_id_argument(rule, name)))
        if not ids:
            others = f" <{', '.join(sorted(rule.arguments))}> not an id" if rule.arguments else ""
            out_of_scope.append(f"{','.join(methods)} {rule.rule}{others}")
            continue
        unknown = [name for name in ids if name not in KNOWN_ID_ARGUMENTS]
        others = [name for name in rule.arguments if name not in ids]
        if unknown or others:
            pytest.fail(
                f"{rule.rule} ({rule.endpoint}) takes {unknown + others}, which the practice-wall test "
                f"cannot fill. Give practice B (and A) a real object for it in build_world and Case, "
                f"so that this route is checked to answer 404 for another practice's id."
            )
        blueprint = rule.endpoint.split(".")[0]
        actor = "parent" if blueprint in PARENT_BLUEPRINTS else "staff"
        covered.append(Route(rule, rule.endpoint, ids, methods, actor))
    return covered, out_of_scope


def call(client, route: Route, method: str, ids: dict[str, int], htmx: bool):
    url = route.rule.build({name: ids[name] for name in route.id_arguments})[1]
    headers = dict(HX) if htmx else {}
    if method == "GET":
        return client.open(url, method=method, headers=headers)
    headers["X-CSRFToken"] = client.csrf_token
    data = {**PLAUSIBLE_FORM, "idempotency_key": secrets.token_urlsafe(24)}
    return client.open(url, method=method, data=data, headers=headers)


def assignments(route: Route, own: Case, cases: list[Case]):
    """B's ids for every argument, and each mix of B's and A's own ids (B's credential under A's
    patient, ...): every combination with at least one of B's ids."""
    for case in cases:
        for picks in itertools.product((True, False), repeat=len(route.id_arguments)):
            if not any(picks):
                continue
            ids = {name: getattr(case if pick else own, name) for name, pick in zip(route.id_arguments, picks)}
            mixed = "" if all(picks) else " mixed with A's " + ", ".join(
                name for name, pick in zip(route.id_arguments, picks) if not pick
            )
            yield f"{case.label}{mixed}", ids


@pytest.mark.parametrize("actor", ["admin of A only", "admin of A and B, working in A"])
def test_every_route_with_an_id_is_404_for_another_practices_ids_and_changes_nothing(
    app, mailbox, refusing_server, actor  # noqa: F811 (fixture)
):
    world = build_world(app, mailbox, refusing_server, actor)
    routes, out_of_scope = routes_with_ids(app)
    clients = {"staff": world.staff, "parent": world.parent}
    own = {"staff": world.a_staff_case, "parent": world.a_parent_case}
    b_messages = message_states(app, world.b_practice_id)
    mailed = mailed_before = len(mailbox.messages)
    before, columns = database_snapshot(app, world.b_practice_id)

    failures, calls = [], 0
    for route in routes:
        for method in route.methods:
            for label, ids in assignments(route, own[route.actor], world.b_cases):
                for htmx in (False, True):
                    url = route.rule.build({name: ids[name] for name in route.id_arguments})[1]
                    where = f"{method} {url} ({route.endpoint}; {label}; {'htmx' if htmx else 'full page'})"
                    calls += 1
                    try:
                        response = call(clients[route.actor], route, method, ids, htmx)
                    except Exception as error:  # TESTING propagates a view's exception: report it, go on
                        failures.append(f"{where}: raised {type(error).__name__}: {error}, not 404")
                    else:
                        if response.status_code != 404:
                            location = response.headers.get("Location", "")
                            failures.append(f"{where}: {response.status_code} {location}, not 404")
                    after, _ = database_snapshot(app, world.b_practice_id)
                    for change in describe_changes(before, after, columns):
                        failures.append(f"{where}: {change}")
                    before = after
                    if len(mailbox.messages) != mailed:
                        failures.append(f"{where}: mail was sent ({len(mailbox.messages) - mailed} message(s))")
                        mailed = len(mailbox.messages)

    covered_calls = sum(len(route.methods) for route in routes)
    print(f"\n[{actor}] practice wall: {len(routes)} routes with ids ({covered_calls} route+method pairs), "
          f"{calls} requests, all expected 404:")
    for route in routes:
        print(f"  {route.text}")
    print(f"  out of scope (no id argument): {len(out_of_scope)}")
    for text in out_of_scope:
        print(f"    {text}")

    assert not failures, "the practice wall let through:\n" + "\n".join(failures)
    # Nothing of B's moved: its PINs still active, no new PIN, its messages as they were, no mail.
    assert active_credentials(app, world.b_practice_id) == world.b_active_credentials
    assert message_states(app, world.b_practice_id) == b_messages
    assert len(mailbox.messages) == mailed_before
    assert len(routes) >= MIN_COVERED_RULES, [route.text for route in routes]
    assert covered_calls >= MIN_COVERED_CALLS

    # Sanity: with A's own ids the same routes answer (the 404 above is the wall, not a broken
    # route). GETs must show their page; POSTs may refuse (409, 422) but must find the object.
    sanity = []
    for route, method in sorted(
        ((each, method) for each in routes for method in each.methods), key=lambda pair: pair[1] != "GET"
    ):  # every GET first, while A's PIN is still active; then the POSTs
        url = route.rule.build({name: own[route.actor].ids()[name] for name in route.id_arguments})[1]
        response = call(clients[route.actor], route, method, own[route.actor].ids(), htmx=False)
        location = response.headers.get("Location", "")
        print(f"  with A's own ids: {response.status_code} {method} {url} ({route.endpoint})")
        if method == "GET" and response.status_code != 200 or response.status_code in (400, 401, 403, 404, 405) or "signin" in location:
            sanity.append(f"{method} {url} ({route.endpoint}) with A's own ids: {response.status_code} {location}")
    assert not sanity, "routes that do not work even with the practice's own ids:\n" + "\n".join(sanity)
