"""Realistic synthetic patients for the benchmarks: N patients across 10 practices.

    .venv/bin/python benchmarks/generate.py --database-url sqlite:///benchmarks/data/p10k.sqlite3 -n 10000
    createdb -h 127.0.0.1 -U postgres bench_search
    .venv/bin/python benchmarks/generate.py -n 1000000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_search      # WIPED first

The database is emptied (SQLite: the file is replaced; PostgreSQL: the public schema is dropped;
only databases whose name starts with `bench` are accepted) and migrated with
`flask --app app db upgrade`. Ten practices are created with services.identity.staff (`Bench Pediatrics
01` to `10`); `Bench Pediatrics 01` is the searched practice and holds exactly 10% of the
patients, and its staff login is `bench` / `bench-search-password`. Patients are then loaded in
bulk: PostgreSQL by COPY (psycopg's `cursor.copy`), SQLite by executemany in 20,000-row batches
inside one transaction. The normalised search columns are filled by the model's own
`Patient.set_names` (models.names.normalize_name), so the app's search finds every row; a
check at the end runs services.patients.patient_search on a sample of rows.

What the data looks like (names are from compact frequency tables written from memory of the
US Census 2010 surname list and the SSA baby-name counts, see benchmarks/names_us.py; weights
are approximate):

- Surnames: the Census head (Smith 0.83%, Johnson 0.66%, ...; 400 names, ~30% of people), then
  a long synthetic tail of ~60,000 surname-like names (Zipf-weighted, their first letters drawn
  like the head's) for the other ~70%, as the real list has (its top 1,000 cover only ~42%).
  Accents and punctuation as a clinic records them: a share of Garcia is García, Nunez Núñez,
  Obrien O'Brien, Delacruz De La Cruz; ~4% of families have two surnames (García-López,
  García López, Smith-Jones). Overall a few % of patients have an accent, hyphen or apostrophe.
- Given names by sex and birth cohort (SSA counts for ~2004-2012 and ~2013-2025, blended by
  age: a 20-year-old is more likely Jacob or Madison, a toddler Liam or Olivia), ~25% drawn
  from an invented-name tail (Jaylynn, Braxleigh), accented spellings (Sofía, Zoë, José) in a
  share of families, hyphenated or two-word names (Mary-Kate, Juan Carlos), and newborns under
  10 days often still `Baby Boy`/`Baby Girl` (twins `Twin A`/`Twin B`); 0.1% are flagged
  name_is_unofficial.
- Families: 1 to 6 children (42% one, 33% two, 16% three, ...), sharing the surname (a few
  half-siblings do not), the guardian's email, cell and carrier; siblings 1-4 years apart, 3% of
  families with twins. Email addresses are on reserved `.example` domains (gmail.example, ...).
  Cells are 555-01xx numbers (fictional, but valid for the app's phonenumbers check).
- Dates of birth: ages 0 to 21 with more young children, as a pediatric panel has: about 6-7% of
  patients per year of age up to 7, 5% at 10, 3% at 17, 1% at 20 (measured at 1M).
- Portal status, by family: 30% registered in the previous system (imported_portal_status),
  15% registered here (a portal user linked to each child through a used PIN), 3% an imported
  pending PIN, 5% an active PIN issued here (some replacing a revoked one), 2% self registered,
  5% with lapsed PINs only (expired, revoked or locked: Unregistered), the rest unregistered. The
  shown status (services.patients.portal_status) therefore comes out about 45% Registered, 8% Pending,
  2% Self Registered and 45% Unregistered. PIN hashes are one placeholder scrypt hash: these
  PINs cannot be redeemed (the search benchmark never redeems).

Importable: `from benchmarks.generate import build` returns the login and counts, for
benchmarks/bench_search.py.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import sqlite3
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import make_url  # noqa: E402

from benchmarks import harness, names_us  # noqa: E402
from benchmarks.harness import absolute_sqlite_url, ensure_postgres_database, make_app, migrate, wipe  # noqa: E402
from models.patient import Patient  # noqa: E402

GENERATOR_VERSION = 2
PRACTICE_COUNT = 10
SEARCHED_PRACTICE = "Bench Pediatrics 01"
STAFF_USERNAME = "bench"
STAFF_PASSWORD = "violet-canyon-search-3"
SECRET_KEY = harness.SECRET_KEY
BATCH = 20_000
TAIL_SURNAMES = 60_000
TAIL_GIVEN = 6_000

# ---------------------------------------------------------------------------------------------
# Samplers


class Weighted:
    """Draws from (value, weight) pairs by bisecting cumulative weights."""

    def __init__(self, pairs):
        self.values = [value for value, _ in pairs]
        self.cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1]

    def draw(self, rng: random.Random):
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


SURNAME_SYLLABLES = ["an", "ar", "el", "er", "in", "or", "al", "en", "om", "ur", "ith", "ol", "ab", "ev", "ig", "ost"]
SURNAME_ENDINGS = [
    "son", "sen", "ton", "ley", "man", "er", "ers", "ski", "sky", "berg", "stein", "ez", "es", "o", "a",
    "ini", "elli", "ov", "ova", "enko", "ian", "yan", "well", "wood", "ford", "field", "ham", "ridge",
    "ett", "ard", "ick", "ay", "ey", "ner", "ling", "mann", "quist", "dahl", "haus", "ada", "ito", "ino",
]
GIRL_ENDINGS = ["lyn", "lynn", "leigh", "lee", "ella", "anna", "ia", "iah", "ara", "ani", "ie", "ey", "ley", "elle", "ina", "ette", "ona", "ly"]
BOY_ENDINGS = ["den", "don", "ton", "son", "ley", "ric", "ius", "o", "an", "ar", "er", "el", "iel", "ston", "ix", "ley", "ryn", "ias"]


def _tail_names(rng: random.Random, head: Weighted, count: int, endings: list[str], syllables: list[str],
                forbidden: set[str]) -> list[str]:
    """Invented names that start like the head's names (so first letters keep their shares)."""
    seen: set[str] = set()
    names: list[str] = []
    while len(names) < count:
        stem_source = head.draw(rng)
        cut = rng.randint(2, max(2, min(4, len(stem_source) - 1)))
        middle = rng.choice(syllables) if rng.random() < 0.5 else ""
        name = (stem_source[:cut] + middle + rng.choice(endings)).capitalize()
        if name in seen or name in forbidden or len(name) < 3:
            continue
        seen.add(name)
        names.append(name)
    return names


def tail_weights(count: int, mass: float, largest: float, offset: int) -> list[float]:
    """Power-law weights (rank + offset) ** -alpha summing to `mass`, alpha chosen by bisection
    so that the first is about `largest`: a tail continuing where the head table stops."""
    low, high = 0.05, 3.0
    for _ in range(30):
        alpha = (low + high) / 2
        raw = [(rank + offset) ** -alpha for rank in range(count)]
        first = raw[0] * mass / sum(raw)
        low, high = (low, alpha) if first > largest else (alpha, high)
    scale = mass / sum(raw)
    return [value * scale for value in raw]


@dataclass
class NameBook:
    surnames: Weighted
    hispanic: Weighted
    given: dict  # (sex, age) -> Weighted
    parents: dict  # sex -> Weighted


def build_name_book(rng: random.Random) -> NameBook:
    head = names_us.parse_surnames()
    head_names = {name for name, _ in head}
    head_total = sum(weight for _, weight in head)
    head_sampler = Weighted(head)
    tail = _tail_names(rng, head_sampler, TAIL_SURNAMES, SURNAME_ENDINGS, SURNAME_SYLLABLES, head_names)
    # The tail carries the rest of the 100,000, its commonest name as rare as the head's rarest.
    weights = tail_weights(len(tail), 100_000 - head_total, min(weight for _, weight in head), offset=len(head))
    surnames = Weighted(head + list(zip(tail, weights)))
    hispanic = Weighted([(name, weight) for name, weight in head if name in names_us.HISPANIC_SURNAMES])

    given: dict = {}
    parents: dict = {}
    for sex, table, endings in (("M", names_us.BOYS, BOY_ENDINGS), ("F", names_us.GIRLS, GIRL_ENDINGS)):
        rows = names_us.parse_given(table)
        names = {name for name, _, _ in rows}
        invented = _tail_names(
            rng, Weighted([(name, then + now) for name, then, now in rows]), TAIL_GIVEN, endings,
            ["a", "e", "i", "y", "ay", "ae", ""], names,
        )
        shape = None
        for age in range(22):
            blend = min(1.0, max(0.0, (age - 2) / 16))  # 0 = "now" cohort, 1 = "then" cohort
            head_pairs = [(name, then * blend + now * (1 - blend)) for name, then, now in rows]
            head_sum = sum(weight for _, weight in head_pairs)
            tail_share = 0.22 + 0.06 * (1 - blend)  # more invented names among the youngest
            mass = head_sum * tail_share / (1 - tail_share)
            if shape is None:  # one tail shape per sex (its first name as rare as a rank-~180 name)
                shape = tail_weights(len(invented), 1.0, sorted(w for _, w in head_pairs)[len(head_pairs) // 10] / mass,
                                     offset=len(head_pairs))
            given[(sex, age)] = Weighted(head_pairs + [(n, w * mass) for n, w in zip(invented, shape)])
        parents[sex] = Weighted([(name, then) for name, then, _ in rows])
    return NameBook(surnames=surnames, hispanic=hispanic, given=given, parents=parents)


# Age in whole years -> share of patients (a pediatric panel: more infants and toddlers).
AGE_WEIGHTS = [9.0, 8.0, 7.5, 7.0, 6.8, 6.5, 6.2, 6.0, 5.8, 5.6, 5.4, 5.2, 5.0, 4.8, 4.6, 4.4, 4.1, 3.7, 2.5, 1.6, 1.0, 0.5]
FAMILY_SIZES = Weighted([(1, 42), (2, 33), (3, 16), (4, 6), (5, 2), (6, 1)])
EMAIL_DOMAINS = Weighted([
    ("gmail.example", 45), ("yahoo.example", 14), ("icloud.example", 11), ("hotmail.example", 9),
    ("outlook.example", 8), ("comcast.example", 3), ("aol.example", 2), ("att.example", 2),
    ("msn.example", 1), ("live.example", 2), ("protonmail.example", 1), ("school.example", 2),
])
AREA_CODES = [
    "201", "205", "206", "210", "212", "213", "214", "215", "216", "224", "248", "267", "281", "301", "303",
    "305", "312", "313", "314", "317", "323", "330", "347", "404", "407", "412", "415", "425", "469", "480",
    "502", "503", "512", "513", "601", "602", "612", "614", "615", "617", "619", "646", "678", "702", "704",
    "713", "718", "720", "732", "770", "773", "786", "801", "813", "817", "832", "847", "901", "904", "919",
]
CARRIER_SHARES = [("Verizon", 30), ("AT&T", 25), ("T-Mobile", 20), ("Sprint", 4), ("US Cellular", 3),
                  ("Boost", 4), ("Google Fi", 3), ("Cricket", 6), ("Metro", 5)]
FAMILY_STATES = Weighted([
    ("imported_registered", 30), ("registered_here", 15), ("imported_pending", 3), ("active_pin", 5),
    ("self_registered", 2), ("lapsed", 5), ("unregistered", 40),
])
PIN_LIFETIME = timedelta(days=7)


def ascii_fold(value: str) -> str:
    from models.names import normalize_name

    return "".join(ch for ch in normalize_name(value) if ch.isalnum())


# ---------------------------------------------------------------------------------------------
# Rows

PATIENT_COLUMNS = (
    "id", "practice_id", "chart_number", "first_name", "last_name", "first_name_norm", "last_name_norm",
    "first_name_key", "last_name_key", "last_name_part_key", "date_of_birth", "sex", "guardian_email", "guardian_cell", "guardian_cell_carrier_id",
    "imported_portal_status", "name_is_unofficial", "created_at", "updated_at",
)
CREDENTIAL_COLUMNS = (
    "id", "practice_id", "patient_id", "kind", "audience", "access_level", "pin_hash", "pin_bucket",
    "question", "answer_hash", "send_by", "sent_to_masked", "issued_at", "expires_at", "issued_by_id",
    "used_at", "revoked_at", "revoked_reason", "failed_attempts", "idempotency_key",
)
PORTAL_USER_COLUMNS = ("id", "practice_id", "email", "password_hash", "created_at")
PORTAL_LINK_COLUMNS = ("id", "portal_user_id", "patient_id", "access_level", "audience", "credential_id", "created_at")


@dataclass
class Counters:
    patients: int = 0
    credentials: int = 0
    portal_users: int = 0
    portal_links: int = 0
    accented_or_punctuated: int = 0
    placeholder_names: int = 0
    by_imported_status: dict = field(default_factory=dict)
    by_family_state: dict = field(default_factory=dict)


class PatientFactory:
    """Makes families for one practice at a time; ids are global, assigned as rows are made."""

    def __init__(self, seed: int, now: datetime, carriers: dict[str, int], staff_id: int, pin_hash: str, answer_hash: str):
        self.rng = random.Random(seed)
        self.book = build_name_book(random.Random(seed + 1))
        self.now = now.replace(tzinfo=None)  # naive UTC, as stored
        self.today = now.date()
        self.carriers = Weighted([(carriers[name], share) for name, share in CARRIER_SHARES if name in carriers])
        self.staff_id = staff_id
        self.pin_hash = pin_hash
        self.answer_hash = answer_hash
        self.ids = {"patient": 0, "credential": 0, "portal_user": 0, "portal_link": 0}
        self.emails: dict[int, set[str]] = {}
        self.charts: dict[int, int] = {}
        self.counters = Counters()
        self.ages = Weighted(list(enumerate(AGE_WEIGHTS)))

    def _next(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]

    # -- names -------------------------------------------------------------------------------

    def _surname(self) -> tuple[str, bool]:
        """A family's surname as recorded, and whether the family is Hispanic-named."""
        rng = self.rng
        plain = self.book.surnames.draw(rng)
        hispanic = plain in names_us.HISPANIC_SURNAMES
        name = self._spell(plain, hispanic)
        roll = rng.random()
        if hispanic and roll < 0.14:
            second = self._spell(self.book.hispanic.draw(rng), True)
            name = f"{name}-{second}" if roll < 0.06 else f"{name} {second}"
        elif not hispanic and roll < 0.025:
            name = f"{name}-{self._spell(self.book.surnames.draw(rng), False)}"
        return name, hispanic

    def _spell(self, plain: str, hispanic: bool) -> str:
        accented = names_us.ACCENTED_SURNAMES.get(plain)
        if accented and (plain in names_us.ALWAYS_RESPELLED or self.rng.random() < (0.35 if hispanic else 0.1)):
            return accented
        return plain

    def _given(self, sex: str, age: int, hispanic: bool) -> str:
        rng = self.rng
        if rng.random() < 0.015:
            return rng.choice(names_us.COMPOUND_GIVEN_BOYS if sex == "M" else names_us.COMPOUND_GIVEN_GIRLS)
        name = self.book.given[(sex, age)].draw(rng)
        accented = names_us.ACCENTED_GIVEN.get(name)
        if accented and rng.random() < (0.5 if hispanic else 0.08):
            return accented
        return name

    # -- a family -----------------------------------------------------------------------------

    def _birth_dates(self, size: int) -> list[date]:
        rng = self.rng
        anchor_age = self.ages.draw(rng) + rng.random()
        ages = [anchor_age]
        while len(ages) < size:
            if rng.random() < 0.03 * len(ages):
                ages.append(ages[-1])  # twins
                continue
            gap = rng.uniform(1.0, 4.0)
            older = rng.random() < 0.5
            candidate = ages[-1] + gap if older else min(ages) - gap
            if candidate < 0 or candidate >= 22:
                candidate = max(ages) + gap if candidate < 0 else min(ages) - gap
            if candidate < 0 or candidate >= 22:
                candidate = rng.uniform(0, 22)
            ages.append(candidate)
        return [self.today - timedelta(days=int(age * 365.25)) for age in ages]

    def family(self, practice_id: int, size: int) -> dict:
        """One family's rows: patients, credentials, portal users and links."""
        rng = self.rng
        counters = self.counters
        surname, hispanic = self._surname()
        parent_sex = "F" if rng.random() < 0.72 else "M"
        parent_first = self.book.parents[parent_sex].draw(rng)
        email = None
        if rng.random() < 0.92:
            email = self._email(practice_id, parent_first, surname)
        cell = carrier = None
        if rng.random() < 0.85:
            cell = f"{rng.choice(AREA_CODES)}5550{rng.randint(100, 199)}"
            carrier = self.carriers.draw(rng) if rng.random() < 0.7 else None
        state = FAMILY_STATES.draw(rng)
        counters.by_family_state[state] = counters.by_family_state.get(state, 0) + 1
        imported = {
            "imported_registered": "registered", "imported_pending": "pending", "self_registered": "self_registered",
        }.get(state, "unregistered")

        rows = {"patients": [], "credentials": [], "portal_users": [], "portal_links": []}
        births = sorted(self._birth_dates(size))
        twins = {b for b in births if births.count(b) > 1}
        twin_letters = iter("ABCDEF")
        portal_user_id = None
        for dob in births:
            age_days = (self.today - dob).days
            age = min(21, age_days // 365)
            sex = "F" if rng.random() < 0.488 else "M"
            last = surname
            if size > 1 and rng.random() < 0.04:  # a half-sibling with another surname
                last, _ = self._surname()
            if age_days < 10 and rng.random() < 0.35:
                first = f"Twin {next(twin_letters)}" if dob in twins else ("Baby Boy" if sex == "M" else "Baby Girl")
                counters.placeholder_names += 1
            else:
                first = self._given(sex, age, hispanic)
            s = SimpleNamespace(**Patient.name_columns(first, last))  # the model's own name rules
            if s.first_name_norm != s.first_name.casefold() or s.last_name_norm != s.last_name.casefold() or "-" in s.last_name or "'" in s.last_name or "-" in s.first_name:
                counters.accented_or_punctuated += 1
            patient_id = self._next("patient")
            self.charts[practice_id] = self.charts.get(practice_id, 100_000) + rng.randint(1, 3)
            created = max(
                datetime.combine(dob, datetime.min.time()) + timedelta(hours=rng.randint(8, 17)),
                self.now - timedelta(days=rng.randint(0, 365 * 12)),
            )
            created = min(created, self.now)
            status = imported
            if state == "registered_here" and age_days < 120 and rng.random() < 0.5:
                status = "unregistered"  # a newborn the parent has not added yet
            rows["patients"].append((
                patient_id, practice_id, f"{self.charts[practice_id]:08d}", s.first_name, s.last_name,
                s.first_name_norm, s.last_name_norm, s.first_name_key, s.last_name_key, s.last_name_part_key, dob,
                sex if rng.random() > 0.003 else None, email, cell, carrier if cell else None,
                status, rng.random() < 0.001, created, created + timedelta(days=rng.randint(0, 400)) if rng.random() < 0.3 else created,
            ))
            counters.patients += 1
            counters.by_imported_status[status] = counters.by_imported_status.get(status, 0) + 1
            if state == "registered_here" and not (age_days < 120 and status == "unregistered"):
                if portal_user_id is None:
                    portal_user_id = self._next("portal_user")
                    user_email = email or self._email(practice_id, parent_first, surname)
                    rows["portal_users"].append((portal_user_id, practice_id, user_email.lower(), self.pin_hash,
                                                 self.now - timedelta(days=rng.randint(1, 2000))))
                issued = self.now - timedelta(days=rng.randint(8, 2000), minutes=rng.randint(0, 1440))
                used = issued + timedelta(hours=rng.randint(1, 150))
                credential_id = self._credential(rows, practice_id, patient_id, email, issued, used_at=used)
                rows["portal_links"].append((self._next("portal_link"), portal_user_id, patient_id,
                                             "full" if rng.random() < 0.93 else "limited", "guardian", credential_id, used))
            elif state == "active_pin":
                audience = "minor" if age >= 12 and rng.random() < 0.15 else "guardian"
                issued = self.now - timedelta(minutes=rng.randint(5, 6 * 24 * 60))
                if rng.random() < 0.2:  # replaced an earlier PIN
                    earlier = issued - timedelta(days=rng.randint(1, 30))
                    self._credential(rows, practice_id, patient_id, email, earlier, audience=audience,
                                     revoked_at=issued, revoked_reason="Replaced by a new PIN")
                self._credential(rows, practice_id, patient_id, email, issued, audience=audience)
            elif state == "lapsed":
                roll = rng.random()
                if roll < 0.5:
                    self._credential(rows, practice_id, patient_id, email,
                                     self.now - timedelta(days=rng.randint(10, 600)))  # expired
                elif roll < 0.85:
                    issued = self.now - timedelta(days=rng.randint(1, 600))
                    self._credential(rows, practice_id, patient_id, email, issued,
                                     revoked_at=issued + timedelta(hours=rng.randint(1, 100)),
                                     revoked_reason="Wrong email address")
                else:
                    self._credential(rows, practice_id, patient_id, email,
                                     self.now - timedelta(days=rng.randint(0, 5)), failed_attempts=5)  # locked
        return rows

    def _email(self, practice_id: int, first: str, last: str) -> str:
        rng = self.rng
        f, l = ascii_fold(first) or "parent", ascii_fold(last) or "family"
        style = rng.randrange(6)
        local = [f"{f}.{l}", f"{f}{l}", f"{f[0]}{l}", f"{f}{l}{rng.randint(1, 99)}",
                 f"{f}_{l}{rng.randint(70, 99)}", f"{l}{f[0]}{rng.randint(1, 999)}"][style]
        taken = self.emails.setdefault(practice_id, set())
        address = f"{local}@{EMAIL_DOMAINS.draw(rng)}"
        while address in taken:
            address = f"{local}{rng.randint(1, 9999)}@{EMAIL_DOMAINS.draw(rng)}"
        taken.add(address)
        return address

    def _credential(self, rows, practice_id, patient_id, email, issued, *, audience="guardian", used_at=None,
                    revoked_at=None, revoked_reason=None, failed_attempts=0) -> int:
        rng = self.rng
        credential_id = self._next("credential")
        is_pin = rng.random() < 0.9
        send_by = "email" if email and rng.random() < 0.75 else rng.choice(["text", "none"])
        masked = {"email": f"{(email or 'x')[0]}•••@{(email or '@x').split('@')[1]}" if email else None,
                  "text": f"•••-•••-01{rng.randint(0, 99):02d}", "none": None}[send_by]
        rows["credentials"].append((
            credential_id, practice_id, patient_id, "pin" if is_pin else "question", audience,
            "full" if rng.random() < 0.93 else "limited",
            self.pin_hash if is_pin else None, rng.randrange(65536) if is_pin else None,
            None if is_pin else "What is the name of your child's first pet?",
            None if is_pin else self.answer_hash,
            send_by, masked, issued, issued + PIN_LIFETIME, self.staff_id if rng.random() < 0.9 else None,
            used_at, revoked_at, revoked_reason, failed_attempts, uuid.UUID(int=rng.getrandbits(128)).hex,
        ))
        return credential_id


def family_stream(factory: PatientFactory, practice_ids: list[int], n: int):
    """Families of all practices interleaved (as a real deployment's tables are), each practice
    holding exactly its quota: the first (searched) 10%, the others sharing the rest."""
    quotas = {pid: n // len(practice_ids) for pid in practice_ids}
    quotas[practice_ids[-1]] += n - sum(quotas.values())
    remaining = dict(quotas)
    rng = factory.rng
    while any(remaining.values()):
        open_ids = [pid for pid in practice_ids if remaining[pid]]
        pid = rng.choices(open_ids, weights=[remaining[p] for p in open_ids])[0]
        size = min(FAMILY_SIZES.draw(rng), remaining[pid])
        remaining[pid] -= size
        yield factory.family(pid, size)
    return quotas


# ---------------------------------------------------------------------------------------------
# Database


def create_practices_and_staff(database_url: str) -> tuple[list[int], int, dict[str, int]]:
    """Through the app's own services: 10 practices and the searched practice's staff login."""
    from blueprints.extensions import db
    from models import Carrier
    from services.identity.staff import create_practice, create_staff

    app = make_app(database_url)
    with app.app_context():
        session = db.session
        practices = [
            create_practice(session, f"Bench Pediatrics {i:02d}", None, "America/Chicago")
            for i in range(1, PRACTICE_COUNT + 1)
        ]
        staff = create_staff(session, STAFF_USERNAME, STAFF_PASSWORD, practices[0], is_admin=True)
        session.commit()
        ids = [p.id for p in practices]
        staff_id = staff.id
        carriers = {c.name: c.id for c in session.query(Carrier)}
        session.remove()
        db.engine.dispose()
    return ids, staff_id, carriers


def _sqlite_value(value):
    """Values as SQLAlchemy stores them in SQLite (dates ISO, datetimes with microseconds)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


class SQLiteWriter:
    def __init__(self, path: str):
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode = WAL")
        self.connection.execute("PRAGMA synchronous = OFF")  # this loading connection only
        self.connection.execute("PRAGMA cache_size = -400000")
        self.connection.execute("BEGIN")

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        self.connection.executemany(sql, [tuple(_sqlite_value(v) for v in row) for row in rows])

    def finish(self) -> None:
        self.connection.execute("COMMIT")
        problems = self.connection.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise SystemExit(f"foreign key problems: {problems[:5]}")
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.connection.close()


class PostgresWriter:
    def __init__(self, database_url: str):
        import psycopg

        url = make_url(database_url)
        self.connection = psycopg.connect(
            host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username, password=url.password,
            dbname=url.database,
        )

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        with self.connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        with self.connection.cursor() as cursor:
            for table in ("patients", "registration_credentials", "portal_users", "portal_links"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 1))"
                )
        self.connection.commit()
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            # What autovacuum would do after a bulk load: statistics and the visibility map.
            cursor.execute("VACUUM (ANALYZE) patients, registration_credentials, portal_users, portal_links")
        self.connection.close()


@dataclass
class BuildReport:
    database: str
    n: int
    seed: int
    generator_version: int
    practice_ids: list
    searched_practice_id: int
    searched_practice: str
    staff_username: str
    staff_password: str
    counters: dict
    seconds_migrate: float
    seconds_load: float
    seconds_total: float
    built_at: str


def build(database_url: str, n: int, seed: int = 20261126, quiet: bool = False) -> BuildReport:
    """Wipe, migrate and fill the database with n patients; returns what was made."""
    started = time.monotonic()
    database_url = absolute_sqlite_url(database_url)
    ensure_postgres_database(database_url)
    wipe(database_url)
    seconds_migrate = migrate(database_url)
    practice_ids, staff_id, carriers = create_practices_and_staff(database_url)

    from werkzeug.security import generate_password_hash

    placeholder_rng = random.Random(seed + 2)
    pin_hash = generate_password_hash(f"{placeholder_rng.getrandbits(64):x}", method="scrypt:1024:8:1")
    answer_hash = generate_password_hash(f"{placeholder_rng.getrandbits(64):x}", method="scrypt:1024:8:1")
    now = datetime.now(UTC)
    factory = PatientFactory(seed, now, carriers, staff_id, pin_hash, answer_hash)

    url = make_url(database_url)
    writer = SQLiteWriter(url.database) if url.get_backend_name() == "sqlite" else PostgresWriter(database_url)
    load_started = time.monotonic()
    pending = {"patients": [], "credentials": [], "portal_users": [], "portal_links": []}
    tables = (
        ("patients", "patients", PATIENT_COLUMNS),
        ("credentials", "registration_credentials", CREDENTIAL_COLUMNS),
        ("portal_users", "portal_users", PORTAL_USER_COLUMNS),
        ("portal_links", "portal_links", PORTAL_LINK_COLUMNS),
    )

    def flush():
        for key, table, columns in tables:
            writer.write(table, columns, pending[key])
            pending[key] = []

    for rows in family_stream(factory, practice_ids, n):
        for key in pending:
            pending[key].extend(rows[key])
        if len(pending["patients"]) >= BATCH:
            flush()
            if not quiet and factory.counters.patients % 100_000 < BATCH:
                print(f"  {factory.counters.patients:,} patients written", file=sys.stderr)
    flush()
    writer.finish()
    seconds_load = time.monotonic() - load_started

    counters = factory.counters
    counters.credentials = factory.ids["credential"]
    counters.portal_users = factory.ids["portal_user"]
    counters.portal_links = factory.ids["portal_link"]
    report = BuildReport(
        database=url.get_backend_name(), n=n, seed=seed, generator_version=GENERATOR_VERSION,
        practice_ids=practice_ids, searched_practice_id=practice_ids[0], searched_practice=SEARCHED_PRACTICE,
        staff_username=STAFF_USERNAME, staff_password=STAFF_PASSWORD, counters=asdict(counters),
        seconds_migrate=seconds_migrate, seconds_load=seconds_load, seconds_total=time.monotonic() - started,
        built_at=now.isoformat(timespec="seconds"),
    )
    check(database_url, report)
    return report


def check(database_url: str, report: BuildReport, samples: int = 50) -> None:
    """The app's own search finds sample patients by their names, exactly as typed."""
    from sqlalchemy import func, select

    from blueprints.extensions import db
    from models import Patient as P
    from models import utcnow
    from models.names import normalize_name, search_key
    from services.patients.patient_search import PatientSearch, search_patients

    app = make_app(database_url)
    rng = random.Random(report.seed + 3)
    with app.app_context():
        session = db.session
        count = session.scalar(select(func.count()).select_from(P))
        if count != report.n:
            raise SystemExit(f"{count} patients in the database, expected {report.n}")
        searched = session.scalar(select(func.count()).select_from(P).where(P.practice_id == report.searched_practice_id))
        if searched != report.n // PRACTICE_COUNT:
            raise SystemExit(f"the searched practice holds {searched}, expected {report.n // PRACTICE_COUNT}")
        for _ in range(samples):
            patient = session.get(P, rng.randint(1, report.n))
            assert patient.last_name_norm == normalize_name(patient.last_name)
            found = search_patients(
                session, patient.practice_id,
                PatientSearch(last=search_key(patient.last_name), first=search_key(patient.first_name), dob=patient.date_of_birth),
                utcnow(), 1000,
            )
            if patient.id not in {row.patient.id for row in found.rows}:
                raise SystemExit(f"search does not find patient {patient.id} ({patient.last_name}, {patient.first_name})")
        session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="SQLAlchemy URL (SQLite file replaced; PostgreSQL WIPED); required but with --smoke")
    parser.add_argument("-n", type=int, default=10_000, help="patients in all (default 10000)")
    parser.add_argument("--seed", type=int, default=20261126)
    args = harness.parse_args(parser)
    if args.smoke:
        args.database_url, args.n = f"sqlite:///{harness.output.data / 'generate.sqlite3'}", 300
    elif not args.database_url:
        parser.error("--database-url is required")
    report = build(args.database_url, args.n, args.seed)
    print(json.dumps(asdict(report), indent=2, default=str))
    if args.smoke or args.results_dir:
        harness.write_result("generate", asdict(report))


if __name__ == "__main__":
    main()
