"""Issuing PINs: PINs per second, each with its welcome message (outbox row) sent by email to a
local SMTP sink, through the service function and through HTTP, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_issue.py                                    # both databases, 3 runs of 100
    .venv/bin/python benchmarks/bench_issue.py -n 20 --runs 1 --databases sqlite \
        --results-md /tmp/bench-dev-RESULTS.md                                    # quick

PostgreSQL: `--postgres URL` (default postgresql+psycopg://postgres@127.0.0.1:5432/bench_issue;
created when missing through the `postgres` maintenance database; its public schema is WIPED
and migrated with `flask --app app db upgrade` before each hash setting; only names starting
with `bench` are accepted). SQLite: a file under benchmarks/data/ (git-ignored), replaced the
same way. When the PostgreSQL server cannot be reached its runs are skipped, saying so.

Hash settings: `production` leaves HASH_METHOD unset, so the app uses services.credentials.pins.HASH_METHOD
= "scrypt", i.e. werkzeug's default scrypt:32768:8:1 (N = 2^15, r = 8, p = 1: 32 MiB and the
~0.1 s a KDF on a secret of under 112 bits should cost); `cheap` sets the tests'
`scrypt:1024:8:1` (tests/conftest.py), to show how much of an issue is the KDF.

For each database and hash setting: a fresh database (wiped, migrated), one practice with a
staff login (services.identity.staff), and runs x 3 x N patients made by benchmarks/generate.py's
PatientFactory (US-like names, accents; newborns still called `Baby Boy` and patients without
a guardian email are left out: they cannot be sent a PIN by email). An aiosmtpd sink listens on
a free loopback port (MAIL_SERVER/MAIL_PORT point at it; every message is one SMTP connection,
as in production). Each run issues N PINs by email, each to a patient of its own, in each mode:

- service: what the blueprint does around the form, in an app context per issue (as a request
  has): the practice and patient loaded, `issue_credential` (credential + queued, encrypted
  welcome message, one transaction) and then `deliver_welcome_message` (the inline SMTP
  attempt); no audit rows, no HTTP.
- test client: Flask's test client, signed in through POST /signin; per issue the Patient
  Registration window is opened (GET, htmx) for its idempotency key and CSRF token, then the
  real POST of the window (`send_by=email`, `action=send`, X-CSRFToken and HX-Request headers,
  as tests/test_registration.py's `issue` does).
- HTTP: the same requests to a werkzeug server (HTTP/1.1 keep-alive, one thread) in a thread,
  over one persistent connection (http.client), as bench_search.py does.

PINs/s = N / the wall time of the run's loop (for the HTTP modes the window's GET is included,
as staff open the window for every PIN). Per-issue p50 / p95: the service call, or the POST
alone (the GET beside it). `issue_credential`, `deliver_welcome_message` and
`services.credentials.registration.hash_secret` (the KDF) are wrapped with timers (module globals; the
product is unchanged) to split each issue. After each run the database and the sink are checked:
exactly N new credentials and N new welcome_messages rows, each patient of the run with exactly
one credential whose one message is `sent`, and N mails at the sink, each to its patient's
guardian and carrying the PIN that was shown (or returned) for that patient.

Raw figures go to benchmarks/results/issue.json (merged by database), and the section between
the `bench_issue` markers of `--results-md` (default benchmarks/RESULTS.md) is rewritten from it.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import re
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import func, select, text  # noqa: E402

from benchmarks import generate, harness  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    CHEAP_HASH,
    HX,
    IDEMPOTENCY_KEY,
    LABEL_DB,
    PIN_SHOWN,
    Http,
    csrf_token,
    git_state,
    http_server,
    loadavg,
    machine_info,
    percentile,
    postgres_reachable,
    summary,
)

RESULTS_JSON = REPO / "benchmarks" / "results" / "issue.json"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
START_MARK = "<!-- bench_issue:start -->"
END_MARK = "<!-- bench_issue:end -->"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_issue"
HASHES = {"production": None, "cheap": CHEAP_HASH}
MODES = ("service", "test_client", "http")
MODE_LABEL = {"service": "service (issue_credential + deliver)", "test_client": "Flask test client", "http": "HTTP (werkzeug)"}
PRACTICE = "Bench Issue Pediatrics"
STAFF_USERNAME = "bench-issue"
STAFF_PASSWORD = "copper-meadow-issue-7"
PIN_IN_MAIL = re.compile(r"\b([0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4})\b")


# ---------------------------------------------------------------------------------------------
# The sink, the timers


class Sink(harness.RecordingSink):
    """The harness's recording sink, read back as the PINs each guardian received."""

    def pins_by_recipient(self) -> list[tuple[str, str, str | None]]:
        """(envelope recipient, To header, the PIN in the plain-text body) of each message."""
        out = []
        with self.lock:
            messages = list(self.messages)
        for _arrived, rcpts, raw in messages:
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            body = parsed.get_body(preferencelist=("plain",))
            found = PIN_IN_MAIL.findall(body.get_content() if body else "")
            out.append((",".join(rcpts), str(parsed["To"]), found[0] if len(set(found)) == 1 else None))
        return out


class Timers:
    """Wraps services.credentials.registration.hash_secret (the KDF) and the blueprint's issue_credential and
    deliver_welcome_message with timers (module globals, looked up at each call)."""

    def __init__(self):
        import blueprints.registration as view
        import services.credentials.registration as service

        self.view, self.service = view, service
        self.originals = (service.hash_secret, view.issue_credential, view.deliver_welcome_message)
        self.kdf: list[float] = []
        self.issue: list[float] = []
        self.deliver: list[float] = []

        def timed(target: list[float], fn):
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    target.append(time.perf_counter() - started)
            return wrapper

        service.hash_secret = timed(self.kdf, self.originals[0])
        view.issue_credential = timed(self.issue, self.originals[1])
        view.deliver_welcome_message = timed(self.deliver, self.originals[2])
        # The service mode calls these through the module too, so it is timed the same way.
        self.issue_credential = view.issue_credential
        self.deliver_welcome_message = view.deliver_welcome_message

    def reset(self) -> None:
        self.kdf.clear()
        self.issue.clear()
        self.deliver.clear()

    def restore(self) -> None:
        self.service.hash_secret, self.view.issue_credential, self.view.deliver_welcome_message = self.originals


# ---------------------------------------------------------------------------------------------
# Data


def sqlite_url() -> str:
    return f"sqlite:///{harness.output.data / 'issue.sqlite3'}"


def make_app(url: str, smtp_port: int, hash_method: str | None):
    config = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port, "MAIL_DEFAULT_SENDER": harness.MAIL_SENDER}
    if hash_method:
        config["HASH_METHOD"] = hash_method
    return harness.make_app(url, **config)


def prepare(url: str, smtp_port: int, hash_method: str | None, patients_needed: int, seed: int) -> dict:
    """Fresh database: a practice, its staff login and the patients to issue to (ids, emails)."""
    from blueprints.extensions import db
    from models import Carrier, Patient
    from services.identity.staff import PASSWORD_HASH_METHOD, create_practice, create_staff
    from services.patients.names import is_placeholder_first_name

    started = time.monotonic()
    harness.fresh_database(url)
    app = make_app(url, smtp_port, hash_method)
    with app.app_context():
        session = db.session
        practice = create_practice(session, PRACTICE, None, "America/Chicago")
        staff = create_staff(session, STAFF_USERNAME, STAFF_PASSWORD, practice, is_admin=False,
                             hash_method=app.config.get("HASH_METHOD", PASSWORD_HASH_METHOD))
        session.commit()
        carriers = {c.name: c.id for c in session.query(Carrier)}
        factory = generate.PatientFactory(seed, datetime.now(UTC), carriers, staff.id, "x", "x")
        columns = {name: generate.PATIENT_COLUMNS.index(name) for name in generate.PATIENT_COLUMNS}
        patients = []
        while len(patients) < patients_needed:
            family = factory.family(practice.id, generate.FAMILY_SIZES.draw(factory.rng))
            for row in family["patients"]:
                first, email_address = row[columns["first_name"]], row[columns["guardian_email"]]
                if not email_address or row[columns["name_is_unofficial"]] or is_placeholder_first_name(first):
                    continue
                patient = Patient(
                    practice_id=practice.id, chart_number=row[columns["chart_number"]],
                    date_of_birth=row[columns["date_of_birth"]], sex=row[columns["sex"]], guardian_email=email_address,
                    guardian_cell=row[columns["guardian_cell"]], guardian_cell_carrier_id=row[columns["guardian_cell_carrier_id"]],
                    imported_portal_status="unregistered", name_is_unofficial=False,
                )
                patient.set_names(first, row[columns["last_name"]])
                patients.append(patient)
        patients = patients[:patients_needed]
        session.add_all(patients)
        session.commit()
        result = {
            "practice_id": practice.id, "staff_id": staff.id,
            "patients": [(p.id, p.guardian_email) for p in patients],
            "aged_12_plus": sum(1 for p in patients if (factory.today - p.date_of_birth).days >= 12 * 365.25),
            "setup_s": time.monotonic() - started,
        }
        session.remove()
        db.engine.dispose()
    return result


def row_counts(app) -> dict:
    from blueprints.extensions import db

    with app.app_context():
        counts = {t: db.session.scalar(text(f"SELECT count(*) FROM {t}")) for t in ("registration_credentials", "welcome_messages", "audit_events")}
        db.session.remove()
    return counts


def verify(app, before: dict, patients: list[tuple[int, str]], issued: dict[int, str], sink: Sink) -> dict:
    """Exactly one credential and one sent message per issue, and each PIN mailed to its guardian."""
    from blueprints.extensions import db
    from models import RegistrationCredential, WelcomeMessage

    n = len(patients)
    after = row_counts(app)
    made = {t: after[t] - before[t] for t in after}
    problems = []
    if made["registration_credentials"] != n:
        problems.append(f"{made['registration_credentials']} credentials made, expected {n}")
    if made["welcome_messages"] != n:
        problems.append(f"{made['welcome_messages']} welcome_messages rows made, expected {n}")
    ids = [pid for pid, _ in patients]
    with app.app_context():
        rows = db.session.execute(
            select(
                RegistrationCredential.patient_id,
                func.count(func.distinct(RegistrationCredential.id)),
                func.count(WelcomeMessage.id),
                func.count(WelcomeMessage.id).filter(WelcomeMessage.status == "sent"),
                func.count(WelcomeMessage.id).filter(WelcomeMessage.body_encrypted.is_(None)),
            )
            .outerjoin(WelcomeMessage, WelcomeMessage.credential_id == RegistrationCredential.id)
            .where(RegistrationCredential.patient_id.in_(ids))
            .group_by(RegistrationCredential.patient_id)
        ).all()
        db.session.remove()
    per_patient = {r[0]: tuple(r[1:]) for r in rows}
    wrong = {pid: v for pid, v in per_patient.items() if v != (1, 1, 1, 1)}
    if len(per_patient) != n or wrong:
        problems.append(f"{len(per_patient)} of {n} patients have a credential; (credentials, messages, sent, "
                        f"body erased) differ from (1, 1, 1, 1) for {len(wrong)}: {list(wrong.items())[:3]}")
    mails = sink.pins_by_recipient()
    expected = {issued[pid]: address.lower() for pid, address in patients if pid in issued}
    got: dict[str, list[str]] = {}
    for rcpt, to, pin in mails:
        if pin is None:
            problems.append(f"a message to {rcpt} carries no single PIN")
            continue
        got.setdefault(pin, []).append(rcpt.lower())
        if to.lower() != rcpt.lower():
            problems.append(f"a message's To ({to}) differs from its envelope ({rcpt})")
    if len(mails) != n:
        problems.append(f"{len(mails)} messages at the sink, expected {n}")
    for pin, address in expected.items():
        if got.get(pin) != [address]:
            problems.append(f"PIN {pin} reached {got.get(pin)}, expected [{address}]")
            break
    if len(issued) != n:
        problems.append(f"{len(issued)} PINs shown, expected {n}")
    if problems:
        raise SystemExit("verification failed: " + "; ".join(problems[:5]))
    return {"credentials": made["registration_credentials"], "welcome_messages": made["welcome_messages"],
            "audit_events": made["audit_events"], "mails": len(mails)}


# ---------------------------------------------------------------------------------------------
# The three ways to issue


def issue_by_service(app, setup: dict, patients: list[tuple[int, str]], timers: Timers) -> tuple[dict, list[float], list[float]]:
    from blueprints.extensions import db
    from models import Patient, utcnow
    from services.actor import Actor
    from services.credentials.registration import IssueRequest, SigningKeys
    from services.delivery.contact import normalize_email_address
    from services.delivery.couriers import couriers_for

    issued: dict[int, str] = {}
    times: list[float] = []
    config = app.config
    addresses = {pid: normalize_email_address(address) for pid, address in patients}  # the form's clean_email
    for pid, _address in patients:
        started = time.perf_counter()
        with app.app_context():
            actor = Actor(practice_id=setup["practice_id"], staff_id=setup["staff_id"], staff_username=STAFF_USERNAME,
                          client_ip="127.0.0.1", clock=utcnow)
            patient = db.session.get(Patient, pid)
            outcome = timers.issue_credential(
                db.session, actor, patient=patient, keys=SigningKeys.from_config(config),
                default_portal_url=config["PORTAL_URL"],
                request=IssueRequest(kind="pin", access_level="full", send_by="email", audience="guardian",
                                     idempotency_key=secrets.token_urlsafe(24), email=addresses[pid]),
            )
            couriers = couriers_for(config, app.extensions["mail"], db.session)
            message = timers.deliver_welcome_message(db.session, actor, pid, outcome.delivery, couriers)
            status = message.status
        times.append(time.perf_counter() - started)
        if status != "sent":
            raise SystemExit(f"the welcome message of patient {pid} is {status}")
        issued[pid] = outcome.pin
    return issued, times, []


def _form(window_html: str, address: str) -> tuple[dict, str]:
    key = IDEMPOTENCY_KEY.search(window_html)
    token = re.search(r'name="csrf_token" value="([^"]+)"', window_html)
    if not key or not token:
        raise SystemExit(f"the window carries no idempotency key or CSRF token: {window_html[:300]!r}")
    data = {"method": "pin", "access": "full", "send_by": "email", "email": address, "action": "send",
            "idempotency_key": key.group(1)}
    if 'name="send_to"' in window_html:  # 12 or older: Send to is offered (Parent/Guardian checked)
        data["send_to"] = "guardian"
    return data, token.group(1)


def _shown_pin(status: int, body: str, pid: int) -> str:
    match = PIN_SHOWN.search(body)
    if status != 200 or not match or "Sent by email to" not in body:
        raise SystemExit(f"issuing for patient {pid}: {status} {body[:300]!r}")
    return match.group(1)


def test_client_signed_in(app):
    client = app.test_client()
    page = client.get("/signin")
    response = client.post("/signin", data={"username": STAFF_USERNAME, "password": STAFF_PASSWORD,
                                            "csrf_token": csrf_token(page.get_data(as_text=True))})
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed: {response.status_code}")
    return client


def issue_by_test_client(client, patients) -> tuple[dict, list[float], list[float]]:
    issued, posts, windows = {}, [], []
    for pid, address in patients:
        started = time.perf_counter()
        window = client.get(f"/patients/{pid}/registration", headers=HX)
        opened = time.perf_counter()
        data, token = _form(window.get_data(as_text=True), address)
        response = client.post(f"/patients/{pid}/registration", data=data, headers={**HX, "X-CSRFToken": token})
        done = time.perf_counter()
        issued[pid] = _shown_pin(response.status_code, response.get_data(as_text=True), pid)
        windows.append(opened - started)
        posts.append(done - opened)
    return issued, posts, windows


def http_signed_in(port: int) -> Http:
    conn = Http(port)
    status, _h, page = conn.request("GET", "/signin")
    body = urlencode({"username": STAFF_USERNAME, "password": STAFF_PASSWORD, "csrf_token": csrf_token(page.decode())})
    status, headers, _data = conn.request("POST", "/signin", body=body)
    if status != 302:
        raise SystemExit(f"sign-in over HTTP failed: {status}")
    return conn


def issue_by_http(conn: Http, patients) -> tuple[dict, list[float], list[float]]:
    issued, posts, windows = {}, [], []
    for pid, address in patients:
        started = time.perf_counter()
        status, _h, window = conn.request("GET", f"/patients/{pid}/registration", headers=HX)
        opened = time.perf_counter()
        if status != 200:
            raise SystemExit(f"the window of patient {pid} over HTTP: {status}")
        data, token = _form(window.decode(), address)
        status, _h, body = conn.request("POST", f"/patients/{pid}/registration", body=urlencode(data),
                                        headers={**HX, "X-CSRFToken": token})
        done = time.perf_counter()
        issued[pid] = _shown_pin(status, body.decode(), pid)
        windows.append(opened - started)
        posts.append(done - opened)
    return issued, posts, windows


# ---------------------------------------------------------------------------------------------
# One database, one hash setting


def bench_setting(database: str, url: str, hash_name: str, args, sink: Sink, smtp_port: int) -> dict:
    from blueprints.extensions import db

    hash_method = HASHES[hash_name]
    n, runs = args.n, args.runs
    setup = prepare(url, smtp_port, hash_method, n * runs * len(MODES), args.seed)
    app = make_app(url, smtp_port, hash_method)
    with app.app_context():
        from services.credentials.registration import SigningKeys

        effective = SigningKeys.from_config(app.config).hash_method
        from services.credentials.pins import hash_secret

        sample_hash = hash_secret("ABCD1234", effective).split("$", 1)[0]
    print(f"[{database} {hash_name}] HASH_METHOD {'unset' if hash_method is None else hash_method} -> {effective!r} "
          f"({sample_hash}); setup {setup['setup_s']:.1f} s", file=sys.stderr)
    timers = Timers()
    result = {"hash": hash_name, "hash_method_config": hash_method, "hash_method_effective": effective,
              "hash_format": sample_hash, "setup_s": setup["setup_s"], "aged_12_plus": setup["aged_12_plus"],
              "patients": len(setup["patients"]), "runs": {m: [] for m in MODES}}
    patients = iter([setup["patients"][i:i + n] for i in range(0, len(setup["patients"]), n)])
    try:
        client = test_client_signed_in(app)
        with http_server(app) as port:
            conn = http_signed_in(port)
            for run in range(runs):
                for mode in MODES:  # interleaved, so drifting load touches every mode alike
                    batch = next(patients)
                    before = row_counts(app)
                    sink.reset()
                    timers.reset()
                    started, cpu_started = time.perf_counter(), time.process_time()
                    if mode == "service":
                        issued, times, windows = issue_by_service(app, setup, batch, timers)
                    elif mode == "test_client":
                        issued, times, windows = issue_by_test_client(client, batch)
                    else:
                        issued, times, windows = issue_by_http(conn, batch)
                    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                    time.sleep(0.05)  # a message still in the sink's hands would show now
                    checked = verify(app, before, batch, issued, sink)
                    entry = {
                        "pins_per_s": n / wall, "wall_s": wall, "cpu_ms_per_pin": cpu / n * 1000, "checked": checked,
                        "issue_ms": [round(t * 1000, 3) for t in times],
                        "window_ms": [round(t * 1000, 3) for t in windows],
                        "issue_credential_ms": [round(t * 1000, 3) for t in timers.issue],
                        "deliver_ms": [round(t * 1000, 3) for t in timers.deliver],
                        "kdf_ms": [round(t * 1000, 3) for t in timers.kdf],
                    }
                    if len(timers.issue) == len(times) == len(timers.deliver):  # one of each per issue
                        entry["rest_ms"] = [round((t - i - d) * 1000, 3) for t, i, d in zip(times, timers.issue, timers.deliver)]
                    result["runs"][mode].append(entry)
                    s = summary(times)
                    print(f"[{database} {hash_name}] run {run + 1} {mode}: {entry['pins_per_s']:.1f} PINs/s, "
                          f"p50 {s['p50']:.1f} p95 {s['p95']:.1f} ms (KDF p50 {percentile(entry['kdf_ms'], 50):.1f} ms); "
                          f"{checked}", file=sys.stderr)
            conn.close()
    finally:
        timers.restore()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return result


def aggregate(setting: dict) -> dict:
    out = {}
    for mode, runs in setting["runs"].items():
        if not runs:
            continue
        rates = [r["pins_per_s"] for r in runs]

        def pooled(key):
            values = [v for r in runs for v in r[key]]
            return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)} if values else None

        cpu = [r["cpu_ms_per_pin"] for r in runs if "cpu_ms_per_pin" in r]
        out[mode] = {
            "pins_per_s": {"median": statistics.median(rates), "min": min(rates), "max": max(rates)},
            "cpu_ms_per_pin": statistics.median(cpu) if cpu else None,
            "issue": pooled("issue_ms"), "window": pooled("window_ms"), "issue_credential": pooled("issue_credential_ms"),
            "deliver": pooled("deliver_ms"), "kdf": pooled("kdf_ms"),
            "rest": pooled("rest_ms") if all("rest_ms" in r for r in runs) else None,
        }
    return out


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def fmt(value, digits: int = 1) -> str:
    if value is None or value != value:
        return "–"
    return f"{value:,.{digits}f}"


def render(store: dict) -> str:
    dbs = [d for d in ("sqlite", "postgresql") if d in store["databases"]]
    machine = store["machine"]
    out = [START_MARK, "## Issuing PINs (benchmarks/bench_issue.py)", ""]
    out.append("Generated by `benchmarks/bench_issue.py`; do not edit by hand between the markers.")
    out.append("")
    any_db = store["databases"][dbs[0]] if dbs else {}
    out.append(
        f"**What and how.** Each run issues N PINs (N = {any_db.get('n', '?')}), each to a patient of its own, by "
        "email to an aiosmtpd sink on loopback (one SMTP connection per message, as in production), in three modes, "
        "interleaved: the service functions the blueprint calls (`issue_credential`, then `deliver_welcome_message`, "
        "in an app context per issue; no audit rows), Flask's test client, and HTTP to a werkzeug server in a thread "
        "(one keep-alive connection); the HTTP modes sign in once through POST /signin, then per PIN open the Patient "
        "Registration window (GET, for its idempotency key and CSRF token) and make its real POST. PINs/s = N / the "
        "run's wall time, the window's GET included; median over the runs (min–max). Per issue: the service call, or "
        "the POST alone, p50 / p95 pooled over the runs. After each run: N new `registration_credentials` and N new "
        "`welcome_messages` rows, one sent message per credential, N mails at the sink each carrying the PIN shown for "
        "its patient, to its guardian. `production` = HASH_METHOD unset: services.credentials.pins.HASH_METHOD `scrypt`, werkzeug's "
        f"default, stored as `{any_db.get('settings', {}).get('production', {}).get('hash_format', 'scrypt:32768:8:1')}`; "
        f"`cheap` = the tests' `{CHEAP_HASH}`, to show what the KDF costs."
    )
    out.append("")
    out += ["| machine | |", "| --- | --- |"]
    for key, name in (("cores", "CPU cores"), ("cpu", "CPU"), ("memory", "Memory"), ("os", "OS"), ("python", "Python"),
                      ("sqlite", "SQLite (Python's)"), ("postgresql", "PostgreSQL server")):
        out.append(f"| {name} | {machine.get(key) or '–'} |")
    for d in dbs:
        r = store["databases"][d]
        out.append(f"| {LABEL_DB[d]} run: date (UTC), code | {r['date']}, {r['git']} |")
        out.append(f"| {LABEL_DB[d]} run: load average before → after (1, 5, 15 min) | {r['load_before']} → {r['load_after']} |")
        out.append(f"| {LABEL_DB[d]} run: N per mode and run, runs | {r['n']}, {r['runs']} |")
    out.append("")

    out += ["### Figures", ""]
    out += ["| database | hash | mode | PINs/s median (min–max) | per issue p50 / p95 ms | window GET p50 ms | "
            "issue_credential p50 ms | of which KDF p50 ms | deliver (SMTP) p50 ms | rest p50 ms | CPU ms per PIN (this process) |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for d in dbs:
        for hash_name, setting in store["databases"][d]["settings"].items():
            agg = aggregate(setting)
            for mode in MODES:
                a = agg.get(mode)
                if not a:
                    continue
                rate = a["pins_per_s"]
                rest = a["rest"]["p50"] if a.get("rest") else None
                out.append(
                    f"| {LABEL_DB[d]} | {hash_name} | {MODE_LABEL[mode]} | {fmt(rate['median'])} ({fmt(rate['min'])}–{fmt(rate['max'])}) | "
                    f"{fmt(a['issue']['p50'])} / {fmt(a['issue']['p95'])} | {fmt(a['window']['p50']) if a['window'] else '–'} | "
                    f"{fmt(a['issue_credential']['p50'])} | {fmt(a['kdf']['p50'])} | {fmt(a['deliver']['p50'])} | {fmt(rest)} | "
                    f"{fmt(a.get('cpu_ms_per_pin'))} |"
                )
    out.append("")
    out.append("*rest* = per issue, its time less its `issue_credential` and `deliver_welcome_message` calls, then "
               "the p50 of that: for the service mode, loading the practice and patient and the app "
               "context; for the HTTP modes, the session checks, the form, the two audit rows, the template and WSGI. "
               "*CPU ms per PIN* = this process's CPU time over the run / N (median of the runs): the benchmark, the app, "
               "the werkzeug server and the SMTP sink all run in it (PostgreSQL's server does not); less sensitive than "
               "wall time to other work on the machine (see the load averages), window GET included.")
    out.append("")

    out += ["### What the KDF costs", ""]
    out += ["| database | mode | PINs/s production → cheap (×) | per issue p50 production → cheap ms | KDF p50 production → cheap ms |",
            "| --- | --- | --- | --- | --- |"]
    for d in dbs:
        settings = store["databases"][d]["settings"]
        if "production" not in settings or "cheap" not in settings:
            continue
        prod, cheap = aggregate(settings["production"]), aggregate(settings["cheap"])
        for mode in MODES:
            if mode not in prod or mode not in cheap:
                continue
            p, c = prod[mode], cheap[mode]
            out.append(
                f"| {LABEL_DB[d]} | {MODE_LABEL[mode]} | {fmt(p['pins_per_s']['median'])} → {fmt(c['pins_per_s']['median'])} "
                f"({c['pins_per_s']['median'] / p['pins_per_s']['median']:.1f}×) | {fmt(p['issue']['p50'])} → {fmt(c['issue']['p50'])} | "
                f"{fmt(p['kdf']['p50'])} → {fmt(c['kdf']['p50'])} |"
            )
    out.append("")
    out += ["### Checks", ""]
    out += ["| database | hash | issues | credentials made | welcome_messages rows made | mails at the sink | audit rows made (HTTP modes: issue + send) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for d in dbs:
        for hash_name, setting in store["databases"][d]["settings"].items():
            runs = [r for m in MODES for r in setting["runs"].get(m, [])]
            total = lambda key: sum(r["checked"][key] for r in runs)  # noqa: E731
            issues = sum(len(r["issue_ms"]) for r in runs)
            out.append(f"| {LABEL_DB[d]} | {hash_name} | {issues:,} | {total('credentials'):,} | {total('welcome_messages'):,} | "
                       f"{total('mails'):,} | {total('audit_events'):,} |")
    out.append("")
    out.append("Every run passed the checks above (the script stops at the first that fails): one credential per "
               "issue, its one welcome message `sent` with its body erased, and the PIN shown to staff (or returned by "
               "the service) in the mail the sink received for that patient's guardian.")
    out.append("")
    notes = store.get("notes") or []
    for note in notes:
        out.append(f"> {note}")
    if notes:
        out.append("")
    out.append(END_MARK)
    return "\n".join(out)


def write_results(store: dict, md_path: Path) -> None:
    section = render(store)
    if md_path.exists():
        current = md_path.read_text()
    else:
        current = "# Benchmark results\n\nEach benchmark under `benchmarks/` writes its own section here.\n\n"
    if START_MARK in current and END_MARK in current:
        before, rest = current.split(START_MARK, 1)
        updated = before + section + rest.split(END_MARK, 1)[1]
    else:
        updated = current.rstrip("\n") + "\n\n" + section + "\n"
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(updated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100, help="PINs per mode and run (default 100)")
    parser.add_argument("--runs", type=int, default=3, help="runs per database and hash setting; the median is reported")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL (public schema WIPED; name must start with 'bench')")
    parser.add_argument("--hashes", default="production,cheap", help="hash settings: production (HASH_METHOD unset), cheap")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--results-md", type=Path, default=RESULTS_MD)
    parser.add_argument("--results-json", type=Path, default=RESULTS_JSON)
    parser.add_argument("--note", action="append", default=[], help="a note printed under the tables (repeatable)")
    parser.add_argument("--render-only", action="store_true", help="rewrite the markdown from the JSON")
    args = harness.parse_args(parser)
    harness.smoke_paths(args, "issue")
    if args.smoke:
        args.n, args.runs, args.databases, args.hashes = 3, 1, "sqlite", "cheap"

    store = json.loads(args.results_json.read_text()) if args.results_json.exists() else {"databases": {}}
    if args.note:
        store["notes"] = args.note
    if args.render_only:
        write_results(store, args.results_md)
        return
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    hashes = [h.strip() for h in args.hashes.split(",") if h.strip()]
    if set(databases) - set(LABEL_DB) or set(hashes) - set(HASHES):
        raise SystemExit("--databases takes sqlite,postgresql and --hashes production,cheap")
    pg_version = postgres_reachable(args.postgres) if "postgresql" in databases else None
    if "postgresql" in databases and pg_version is None:
        databases.remove("postgresql")
    store["machine"] = machine_info(pg_version or store.get("machine", {}).get("postgresql"))
    started = time.monotonic()
    print(f"load average at start: {loadavg()}", file=sys.stderr)
    with harness.smtp_sink(Sink()) as (smtp_port, sink):
        for database in databases:
            url = sqlite_url() if database == "sqlite" else args.postgres
            entry = {"database": database, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                     "git": git_state(), "load_before": loadavg(), "n": args.n, "runs": args.runs, "settings": {}}
            for hash_name in hashes:
                entry["settings"][hash_name] = bench_setting(database, url, hash_name, args, sink, smtp_port)
            entry["load_after"] = loadavg()
            entry["wall_minutes"] = round((time.monotonic() - started) / 60, 1)
            store["databases"][database] = entry
            args.results_json.parent.mkdir(parents=True, exist_ok=True)
            args.results_json.write_text(json.dumps(store, indent=1, default=str))
            write_results(store, args.results_md)
    print(f"wrote {args.results_md} and {args.results_json} in {(time.monotonic() - started) / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
