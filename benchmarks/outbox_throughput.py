"""How many queued welcome messages per second the real `outbox send --loop` delivers.

    .venv/bin/python benchmarks/outbox_throughput.py                      # SQLite, 2000 messages, 3 runs
    .venv/bin/python benchmarks/outbox_throughput.py -n 500 --runs 1
    createdb -h 127.0.0.1 -U postgres bench_outbox
    .venv/bin/python benchmarks/outbox_throughput.py \
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_outbox   # also PostgreSQL (WIPED)

For each database: a fresh schema migrated with `flask --app app db upgrade`; one practice, N
patients and N PINs issued by email through services.credentials.registration.issue_credential (the
message queued, its body encrypted; no inline attempt is made); then, per run, every message is
reset to queued and due, an aiosmtpd sink on loopback counts what arrives, and
`flask --app app outbox send --loop` runs as a subprocess until the sink has N messages, when it
is stopped with SIGINT. Prints a markdown table.

Two rates per run: end to end (from starting the process to the N-th message, so it includes
Python and the app starting up) and steady (from the first message to the N-th). The median of
the runs is reported; every run also checks that each message arrived exactly once and that every
row ended `sent` with its body erased.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiosmtpd  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import bindparam, func, select, text, update  # noqa: E402

from benchmarks import harness  # noqa: E402
from benchmarks.harness import CHEAP_HASH, flask_command, free_port  # noqa: E402


class CountingSink:
    """Counts accepted messages, and per recipient, with the arrival times of the first and last."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.count = 0
            self.recipients: dict[str, int] = {}
            self.first_at: float | None = None
            self.last_at: float | None = None

    async def handle_DATA(self, server, session, envelope):
        now = time.monotonic()
        with self.lock:
            self.count += 1
            for rcpt in envelope.rcpt_tos:
                self.recipients[rcpt] = self.recipients.get(rcpt, 0) + 1
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
        return "250 OK"


def worker_env(database_url: str, mail_port: int) -> dict[str, str]:
    return harness.flask_env(database_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(mail_port),
                             MAIL_DEFAULT_SENDER=harness.MAIL_SENDER, PORTAL_URL=harness.PORTAL_URL)


def make_app(database_url: str):
    # MAIL_PORT is never used: issue_credential makes no inline attempt.
    return harness.make_app(database_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), HASH_METHOD=CHEAP_HASH)


def populate(app, n: int) -> list[dict]:
    """One practice, n patients, n PINs by email, each with its message queued. Returns every
    message's id and encrypted body, to reset the queue between runs."""
    from blueprints.extensions import db
    from models import Patient, WelcomeMessage, utcnow
    from services.actor import Actor
    from services.credentials.registration import IssueRequest, SigningKeys, issue_credential
    from services.identity.staff import create_practice

    with app.app_context():
        session = db.session
        practice = create_practice(session, "Bench Pediatrics", None, "America/New_York")
        session.commit()
        patients = []
        for i in range(n):
            patient = Patient(
                practice_id=practice.id, chart_number=f"B{i:07d}", date_of_birth=date(2016, 1, 1) + timedelta(days=i % 2000),
                guardian_email=f"parent{i}@bench.example", imported_portal_status="unregistered", name_is_unofficial=False,
            )
            patient.set_names(f"Child{i}", "Bench")
            patients.append(patient)
        session.add_all(patients)
        session.commit()
        keys = SigningKeys.from_config(app.config)
        actor = Actor.for_command_line(practice.id, clock=utcnow)
        for i, patient in enumerate(patients):
            issue_credential(
                session, actor, patient=patient, keys=keys, default_portal_url=app.config["PORTAL_URL"],
                request=IssueRequest(
                    kind="pin", access_level="full", send_by="email", audience="guardian",
                    idempotency_key=uuid.uuid4().hex, email=f"parent{i}@bench.example",
                ),
            )
        rows = session.execute(select(WelcomeMessage.id, WelcomeMessage.body_encrypted)).all()
        session.remove()
        return [{"message_id": row.id, "body": bytes(row.body_encrypted)} for row in rows]


def requeue(app, bodies: list[dict]) -> None:
    """Every message queued again, due now, never attempted, with its original body."""
    from blueprints.extensions import db
    from models import WelcomeMessage, utcnow

    table = WelcomeMessage.__table__
    with app.app_context():
        db.session.execute(
            update(table).where(table.c.id == bindparam("message_id")).values(
                status="queued", attempts=0, last_error=None, sent_at=None,
                next_attempt_at=utcnow() - timedelta(minutes=1), body_encrypted=bindparam("body"),
            ),
            bodies,
        )
        db.session.commit()
        db.session.remove()


def check_all_sent(app, n: int) -> None:
    from blueprints.extensions import db
    from models import WelcomeMessage

    with app.app_context():
        sent = db.session.scalar(
            select(func.count()).select_from(WelcomeMessage)
            .where(WelcomeMessage.status == "sent", WelcomeMessage.body_encrypted.is_(None))
        )
        db.session.remove()
    if sent != n:
        raise SystemExit(f"only {sent} of {n} messages are recorded as sent")


def one_run(database_url: str, sink: CountingSink, port: int, n: int, timeout: float) -> dict:
    sink.reset()
    started = time.monotonic()
    worker = subprocess.Popen(
        flask_command("outbox", "send", "--loop"), cwd=REPO, env=worker_env(database_url, port),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        while sink.count < n:
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited early ({worker.returncode}): {worker.stderr.read()}")
            if time.monotonic() - started > timeout:
                raise SystemExit(f"timed out with {sink.count} of {n} messages delivered")
            time.sleep(0.005)
        done = sink.last_at
        time.sleep(0.5)  # anything more (a duplicate) would show up now
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate(timeout=60)
    duplicates = sum(count - 1 for count in sink.recipients.values() if count > 1)
    if sink.count != n or len(sink.recipients) != n or duplicates:
        raise SystemExit(f"delivered {sink.count} to {len(sink.recipients)} recipients ({duplicates} duplicates), expected {n}")
    return {
        "seconds": done - started,
        "end_to_end": n / (done - started),
        "steady": (n - 1) / (done - sink.first_at) if done > sink.first_at else float("nan"),
        "startup": sink.first_at - started,
    }


def bench(label: str, database_url: str, n: int, runs: int, timeout: float) -> dict:
    migrate_seconds = harness.fresh_database(database_url)
    app = make_app(database_url)
    started = time.monotonic()
    bodies = populate(app, n)
    setup_seconds = time.monotonic() - started
    if len(bodies) != n:
        raise SystemExit(f"{len(bodies)} messages queued, expected {n}")
    sink = CountingSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    results = []
    try:
        for run in range(runs):
            requeue(app, bodies)
            result = one_run(database_url, sink, port, n, timeout)
            check_all_sent(app, n)
            results.append(result)
            print(
                f"  {label} run {run + 1}: {n} messages in {result['seconds']:.2f} s "
                f"({result['end_to_end']:.0f}/s end to end, {result['steady']:.0f}/s steady, "
                f"first after {result['startup']:.2f} s)", file=sys.stderr,
            )
    finally:
        controller.stop()
    from blueprints.extensions import db

    with app.app_context():
        server = db.session.scalar(text("SELECT version()")) if db.engine.dialect.name == "postgresql" else f"SQLite {sqlite3.sqlite_version}"
        db.session.remove()
        db.engine.dispose()
    return {
        "label": label, "server": server, "n": n, "runs": runs, "migrate": migrate_seconds, "setup": setup_seconds,
        "seconds": statistics.median(r["seconds"] for r in results),
        "end_to_end": statistics.median(r["end_to_end"] for r in results),
        "steady": statistics.median(r["steady"] for r in results),
        "startup": statistics.median(r["startup"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="queued messages (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per database; the median is reported (default 3)")
    parser.add_argument("--postgres", metavar="URL", help="also benchmark this PostgreSQL database (its public schema is WIPED)")
    parser.add_argument("--timeout", type=float, default=900, help="give up a run after this many seconds")
    args = harness.parse_args(parser)
    if args.smoke:
        args.n, args.runs, args.postgres, args.timeout = 20, 1, None, 60

    rows = []
    with tempfile.TemporaryDirectory(prefix="outbox-bench-") as folder:
        rows.append(bench("SQLite", f"sqlite:///{Path(folder) / 'bench.sqlite3'}", args.n, args.runs, args.timeout))
    if args.postgres:
        rows.append(bench("PostgreSQL", args.postgres, args.n, args.runs, args.timeout))

    machine = harness.machine_info(aiosmtpd=aiosmtpd.__version__)
    print("\n".join(harness.machine_table(machine, (*harness.MACHINE_ROWS, ("aiosmtpd", "aiosmtpd")))))
    print()
    print("Command: `.venv/bin/flask --app app outbox send --loop` (one worker), aiosmtpd sink on 127.0.0.1, "
          "one SMTP connection per message.\n")
    print("| database | messages | runs | median seconds | msgs/s end to end | msgs/s steady | first message after (s) | setup: migrate / issue N (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['label']} ({row['server'].split(' on ')[0]}) | {row['n']} | {row['runs']} | {row['seconds']:.2f} | "
            f"{row['end_to_end']:.0f} | {row['steady']:.0f} | {row['startup']:.2f} | {row['migrate']:.1f} / {row['setup']:.1f} |"
        )
    harness.write_result("outbox", {"machine": machine, "databases": rows})


if __name__ == "__main__":
    main()
