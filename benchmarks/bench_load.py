"""Load test: the app under gunicorn on PostgreSQL with Redis rate limits, N simulated staff each
looping search -> open account -> open the registration window -> issue a PIN by email to a
local SMTP sink, for a fixed time. Reports throughput, p50/p95/p99 and the error count (which
must be 0).

    .venv/bin/pip install gunicorn==27.0.1                         # not in requirements.txt yet
    .venv/bin/python benchmarks/bench_load.py                      # 50 staff, 120 s, 100k patients
    .venv/bin/python benchmarks/bench_load.py --users 5 --duration 10 --patients 10000 \
        --results-md /tmp/bench-dev-RESULTS.md                     # quick check

Needs PostgreSQL (`--postgres URL`, default postgresql+psycopg://postgres@127.0.0.1:5432/bench_load;
only names starting with `bench` are accepted, `bench_search*` never: it is created when missing
and, when not already built with the same size, seed and generator, WIPED and filled by
benchmarks/generate.py, 10 practices, the searched one `Bench Pediatrics 01` holding 10%) and Redis
(`--redis URL`, default redis://127.0.0.1:6379/14: the rate-limit counters; that one database
number is FLUSHED before and after the run, nothing else is touched).

What runs, all on this machine (it shares its cores between the server, PostgreSQL and the client):

- an aiosmtpd sink on a free loopback port, in a child process (so the client's threads do not
  slow the SMTP replies the app waits for), counting every message and its recipient;
- `gunicorn -w WORKERS -k gthread --threads THREADS 'app:create_app()'` (`--worker-class sync`
  for one request per worker), with the production environment: DATABASE_URL, SECRET_KEY (the
  generator's), MAIL_SERVER/MAIL_PORT (the sink), MAIL_DEFAULT_SENDER, PORTAL_URL,
  RATELIMIT_STORAGE_URI (Redis). Production password and PIN hashing (werkzeug's scrypt). No
  access log (it would print the searches' query strings). Every rate limit stays at its default:
  each simulated staff member is a staff login of its own (`load001`, ... in the searched
  practice, created once) that connects from its own loopback address (127.0.1.1, 127.0.1.2, ...),
  as staff at their own workstations do, so the per-client `SIGNIN_RATE_LIMIT` (10/minute) is
  never reached by the 1 sign-in each makes;
- the client: one thread per staff member in this process, with http.client (stdlib; keep-alive,
  reconnecting when the server closes; its cookie jar holds the session cookie). Each signs in
  (GET and POST /signin), then, with no think time (a closed loop: the measure of capacity):
    1. search: `GET /patients?last=PREFIX` with `HX-Request: true` (the results fragment htmx
       swaps in), PREFIX drawn uniformly from the searched practice's most common 3-letter
       last-name prefixes (`--prefixes`, `--prefix-length`);
    2. account: `GET /patients/ID` (a full page, as the result link opens it) for a random patient
       of the results, its CSRF token read from `hx-headers`;
    3. window: `GET /patients/ID/registration` with `HX-Request: true` (the dialog), its
       idempotency key read; a patient whose given name is missing (`Baby Boy`...) gets the
       refusal instead: counted as a refusal (expected), and another patient of the results is
       opened (back to 2);
    4. issue: `POST /patients/ID/registration` (method=pin, access=full, send_by=email,
       email=a unique address @sink.bench.example, action=send, the key; send_to=guardian when the
       window offers Send to) with `HX-Request: true` and `X-CSRFToken`, as htmx sends it; the
       answer must show a PIN and `Sent by email to`.
  Errors: any exception (connection refused, timeout, ...), any status other than the expected
  one (200; 302 to /patients for the sign-in POST), any answer without its expected content.
- a warm-up (`--warmup`, default 15 s, not counted), then the measured window (`--duration`). A
  request counts in the window when it ended inside it; a workflow (search to issue) when its
  issue ended inside it. Latency is the client's, from sending the request to the last byte of the
  answer (so it includes waiting in gunicorn's queue and this process's own scheduling).
- afterwards: the sink's count against the issues reported sent, the `welcome_messages` rows by
  status and the credentials and audit rows made during the run, CPU seconds used in the window by
  gunicorn, by this database's PostgreSQL backends, by the client and by the sink (from /proc),
  and the load average at the start, at the window's start and at its end.

Other flags: `--worker-class sync`, `--threads N`, `--worker-connections N` and `--keep-alive S`
(passed to gunicorn), `--warmup S`, `--timeout S` (the client's socket timeout, 60 s like nginx's
`proxy_read_timeout`), `--rebuild`, `--render-only` (rewrite the markdown from the JSON).
gthread's main loop accepts every connection it can (up to `--worker-connections`, gunicorn's
default 1000) whether or not a thread is free, and keeps a kept-alive client to itself: a first
full run with that default gave one worker 46 of the 50 staff and the other 4 (benoitc/gunicorn#3433).
So `--worker-connections` defaults here to `--threads`, as the README recommends for production.
5-second samples of each worker's client connections and of this database's backends go into the
JSON and the report.

The section between `<!-- bench_load:start -->` and `<!-- bench_load:end -->` of `--results-md`
(default benchmarks/RESULTS.md; appended when absent) is rewritten, and the raw figures go to
`--results-json` (default benchmarks/results/load.json). gunicorn and the sink are stopped when
the script ends, also on Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, make_url, text  # noqa: E402

from benchmarks import generate, harness  # noqa: E402
from benchmarks.harness import free_port, git_state, loadavg, percentile, wait_until_serving  # noqa: E402

RESULTS_JSON = REPO / "benchmarks" / "results" / "load.json"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
START_MARK = "<!-- bench_load:start -->"
END_MARK = "<!-- bench_load:end -->"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
SMOKE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_load_smoke"
SMOKE_REDIS = "redis://127.0.0.1:6379/12"
STAFF_PREFIX = "load"
STAFF_PASSWORD = "lantern-orbit-quill-load"
SINK_DOMAIN = "sink.bench.example"
MAIL_SENDER = "Bench Pediatrics <portal@bench.example>"
PORTAL_URL = "https://portal.bench.example/portal/register"
KINDS = ("search", "account", "window", "issue")
CLK_TCK = os.sysconf("SC_CLK_TCK")

ACCOUNT_LINK = re.compile(r'<a href="/patients/(\d+)">')
CSRF_HEADER = re.compile(r'"X-CSRFToken": "([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
IDEMPOTENCY_KEY = re.compile(r'name="idempotency_key" type="hidden" value="([^"]+)"')
PIN_SHOWN = re.compile(r'class="pin">([0-9A-Z]{4}-[0-9A-Z]{4})<')
# What the window says when a concurrent issue for the same patient replaced this PIN first.
REPLACED_MEANWHILE = "Not sent: replaced by a newly issued PIN or question."
WHERE_LINE = re.compile(r'<p class="where">(.*?)</p>', re.S)


# ---------------------------------------------------------------------------------------------
# Small helpers (as in bench_search.py)


def summary(values_s: list[float], seconds: float) -> dict:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "per_s": len(ms) / seconds if seconds else float("nan"),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else float("nan"),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


def machine_info(postgres_version: str, redis_version: str) -> dict:
    from importlib.metadata import version

    import aiosmtpd

    return harness.machine_info(postgres_version, redis=redis_version, gunicorn=version("gunicorn"),
                                aiosmtpd=aiosmtpd.__version__, flask=version("flask"), psycopg=version("psycopg"))


# ---------------------------------------------------------------------------------------------
# Data: the database, the staff logins, the prefixes searched


def check_database_name(url: str) -> str:
    name = make_url(url).database or ""
    if make_url(url).get_backend_name() != "postgresql":
        raise SystemExit("--postgres must be a PostgreSQL URL (postgresql+psycopg://...)")
    if not name.startswith("bench") or name.startswith("bench_search"):
        raise SystemExit(f"refusing database {name!r}: the load benchmark's database name starts with 'bench' "
                         "(and is never a bench_search one)")
    return name


def postgres_version(url: str) -> str:
    engine = create_engine(make_url(url).set(database="postgres"))
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SHOW server_version"))
    except Exception as error:  # noqa: BLE001
        raise SystemExit(f"cannot reach PostgreSQL at {make_url(url).render_as_string()}: {error}") from None
    finally:
        engine.dispose()


def count_patients(url: str) -> int | None:
    return harness.count_rows(url)


def migrations_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(REPO / "migrations")).get_current_head()


def database_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # noqa: BLE001
        return None
    finally:
        engine.dispose()


def prepare_data(url: str, n: int, seed: int, rebuild: bool) -> tuple[dict, bool]:
    """The generator's report, building the database when it is not the same size and seed, or
    its schema is not the migrations' head (the code changed since it was built)."""
    marker = harness.output.data / f"load-postgresql-{make_url(url).database}.json"
    if not rebuild and marker.exists():
        report = json.loads(marker.read_text())
        if (report.get("n") == n and report.get("seed") == seed and report.get("url") == url
                and report.get("generator_version") == generate.GENERATOR_VERSION and count_patients(url) == n
                and database_revision(url) == migrations_head()):
            return report, False
    print(f"building {make_url(url).database} with {n:,} patients (benchmarks/generate.py) ...", file=sys.stderr)
    marker.unlink(missing_ok=True)
    report = generate.build(url, n, seed).__dict__
    report["url"] = url
    harness.output.data.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(report, indent=1, default=str))
    print(f"built in {report['seconds_total']:.1f} s", file=sys.stderr)
    return report, True


def staff_username(i: int) -> str:
    return f"{STAFF_PREFIX}{i + 1:03d}"


def ensure_staff(url: str, practice_id: int, users: int) -> int:
    """One staff login per simulated staff member, in the searched practice; returns how many
    were created now (the others exist from an earlier run)."""
    from blueprints.extensions import db
    from models import Practice
    from services.identity.staff import create_staff, find_staff_by_username

    app = harness.make_app(url)
    created = 0
    with app.app_context():
        practice = db.session.get(Practice, practice_id)
        for i in range(users):
            if find_staff_by_username(db.session, staff_username(i)) is None:
                create_staff(db.session, staff_username(i), STAFF_PASSWORD, practice, is_admin=False)
                created += 1
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return created


def common_prefixes(url: str, practice_id: int, length: int, count: int) -> list[tuple[str, int]]:
    """The searched practice's most common last-name prefixes (normalised, as the app searches)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT left(last_name_norm, :k) AS prefix, count(*) AS n FROM patients "
                "WHERE practice_id = :pid AND length(last_name_norm) >= :k "
                "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :top"
            ),
            {"k": length, "pid": practice_id, "top": count},
        ).all()
    engine.dispose()
    return [(row.prefix, row.n) for row in rows]


def database_counts(url: str, since: datetime) -> dict:
    """Rows made since `since` (UTC): welcome messages by status, credentials, audit events by
    action; and what the database held before (earlier runs' PINs)."""
    engine = create_engine(url)
    naive = since.astimezone(UTC).replace(tzinfo=None)
    with engine.connect() as connection:
        def by(sql):
            return {str(k): v for k, v in connection.execute(text(sql), {"since": naive}).all()}

        counts = {
            "welcome_messages_by_status": by(
                "SELECT status, count(*) FROM welcome_messages WHERE created_at >= :since GROUP BY 1 ORDER BY 1"),
            "welcome_messages_last_errors": by(
                "SELECT coalesce(last_error, '-'), count(*) FROM welcome_messages WHERE created_at >= :since "
                "AND status <> 'sent' GROUP BY 1 ORDER BY 2 DESC LIMIT 10"),
            "welcome_messages_sink_recipients": connection.scalar(text(
                "SELECT count(*) FROM welcome_messages WHERE created_at >= :since AND recipient LIKE :domain"),
                {"since": naive, "domain": f"%@{SINK_DOMAIN}"}),
            "credentials_issued": connection.scalar(text(
                "SELECT count(*) FROM registration_credentials WHERE issued_at >= :since"), {"since": naive}),
            "credentials_revoked_since": connection.scalar(text(
                "SELECT count(*) FROM registration_credentials WHERE revoked_at >= :since"), {"since": naive}),
            "audit_by_action": by(
                "SELECT action || ' / ' || outcome, count(*) FROM audit_events WHERE occurred_at >= :since "
                "GROUP BY 1 ORDER BY 1"),
        }
    engine.dispose()
    return counts


def database_totals(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as connection:
        totals = {
            "patients": connection.scalar(text("SELECT count(*) FROM patients")),
            "credentials": connection.scalar(text("SELECT count(*) FROM registration_credentials")),
            "welcome_messages": connection.scalar(text("SELECT count(*) FROM welcome_messages")),
            "audit_events": connection.scalar(text("SELECT count(*) FROM audit_events")),
        }
    engine.dispose()
    return totals


def backend_pids(url: str) -> list[int]:
    """PostgreSQL backends connected to this database (the app's pools), not this query's own."""
    engine = create_engine(url)
    with engine.connect() as connection:
        pids = connection.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalars().all()
    engine.dispose()
    return list(pids)


def scrypt_cost_ms(repeat: int = 5) -> float:
    """The median time of one werkzeug scrypt hash as the app makes them in production (a PIN on
    issue, a password on sign-in), here, now."""
    from werkzeug.security import generate_password_hash

    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        generate_password_hash("ABCD2345", method="scrypt")
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def flush_redis(uri: str) -> str:
    """FLUSHDB on the one database number the URL names; returns the server's version."""
    from urllib.parse import urlsplit

    import redis

    path = urlsplit(uri).path.strip("/")
    if not path.isdigit():
        raise SystemExit(f"--redis must name a database number to flush, e.g. {DEFAULT_REDIS}")
    client = redis.Redis.from_url(uri)
    try:
        client.flushdb()
        return client.info("server")["redis_version"]
    except redis.RedisError as error:
        raise SystemExit(f"cannot use Redis at {uri}: {error}") from None
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# The SMTP sink (a child process)


class CountingSink:
    def __init__(self):
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, str]] = []

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrivals.append((now, rcpt))
        return "250 OK"


def run_sink(port: int, conn) -> None:
    """Child process: an aiosmtpd server on 127.0.0.1:port; answers 'stats' over the pipe."""
    import logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it, after reading its counts
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    from aiosmtpd.controller import Controller

    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=30)
    controller.start()
    conn.send("ready")
    try:
        while True:
            request = conn.recv()
            if request == "stats":
                with sink.lock:
                    conn.send(list(sink.arrivals))
            else:
                break
    except (EOFError, OSError):
        pass
    finally:
        controller.stop()


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system CPU seconds) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat and stat[0] == parent:
                found.append(int(entry))
    return found


def _machine_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def cpu_snapshot(gunicorn_pid: int, sink_pid: int, pg_pids: list[int]) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    busy, total = _machine_jiffies()

    def seconds(pids):
        return {pid: stat[1] for pid in pids if (stat := _proc_stat(pid))}

    return {
        "gunicorn": seconds([gunicorn_pid, *_children(gunicorn_pid)]),
        "postgres": seconds(pg_pids),
        "sink": seconds([sink_pid]),
        "client": usage.ru_utime + usage.ru_stime,
        "machine_busy": busy / CLK_TCK,
        "machine_total": total / CLK_TCK,
    }


def cpu_used(before: dict, after: dict) -> dict:
    def delta(group):
        return sum(v - before[group].get(pid, 0.0) for pid, v in after[group].items())

    used = {group: delta(group) for group in ("gunicorn", "postgres", "sink")}
    used["client"] = after["client"] - before["client"]
    used["machine_busy"] = after["machine_busy"] - before["machine_busy"]
    used["machine_total"] = after["machine_total"] - before["machine_total"]
    used["rest"] = used["machine_busy"] - sum(used[g] for g in ("gunicorn", "postgres", "sink", "client"))
    return used


def worker_connections(master_pid: int, port: int) -> dict[str, int]:
    """Established client connections held by each gunicorn worker (a gthread worker keeps the
    connections it accepted, and their queued requests, to itself)."""
    inodes: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                        inodes[fields[9]] = fields[2]
        except OSError:
            pass
    counts = {}
    for pid in _children(master_pid):
        n = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    n += 1
        except OSError:
            continue
        counts[str(pid)] = n
    return counts


_activity_engines: dict[str, object] = {}


def postgres_activity(url: str) -> dict[str, int]:
    """This database's backends by state and wait event type (Lock waits would show here)."""
    engine = _activity_engines.get(url) or _activity_engines.setdefault(url, create_engine(url, pool_size=1))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT coalesce(state, '-') || coalesce('/' || wait_event_type, ''), count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1"
            )).all()
        return {k: v for k, v in rows}
    except Exception as error:  # noqa: BLE001
        return {"error": str(error)[:80]}


# ---------------------------------------------------------------------------------------------
# gunicorn


def gunicorn_command(args, port: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class", args.worker_class]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    connections = args.worker_connections
    if connections is None and args.worker_class == "gthread":
        connections = args.threads  # a worker takes no more clients than it has threads (README)
    if connections is not None:
        command += ["--worker-connections", str(connections)]
    if args.keep_alive is not None:
        command += ["--keep-alive", str(args.keep_alive)]
    command += ["--bind", f"127.0.0.1:{port}", "--no-control-socket", "--graceful-timeout", "10", "app:create_app()"]
    return command


def gunicorn_env(database_url: str, mail_port: int, redis_uri: str) -> dict[str, str]:
    """Only what production sets (README 'Running in production'); nothing inherited that the
    app reads (FLASK_*, MAIL_*, *_RATE_LIMIT, SESSION_*, ...)."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"}}
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=harness.SECRET_KEY,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(mail_port),
        MAIL_DEFAULT_SENDER=MAIL_SENDER,
        PORTAL_URL=PORTAL_URL,
        RATELIMIT_STORAGE_URI=redis_uri,
    )
    return env


def stop_process_group(process: subprocess.Popen | None, name: str) -> None:
    """SIGTERM to the process we started (gunicorn's master stops its workers), then SIGKILL to
    its process group (the one we created with start_new_session) if it lingers."""
    if process is None or process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop on SIGTERM: killing its process group {process.pid}", file=sys.stderr)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# The client: one thread per simulated staff member


class Http(harness.Http):
    """The harness's keep-alive connection, answering with text."""

    def request(self, method: str, path: str, fields: dict | None = None, headers: dict | None = None):
        status, response_headers, data = super().request(method, path, fields, headers)
        return status, response_headers, data.decode("utf-8", "replace")


class Unexpected(Exception):
    """An answer that is not what a working app gives: counted as an error."""

    def __init__(self, reason: str, status: int | None = None, body: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body


class Staff(threading.Thread):
    """One simulated staff member: signs in, then loops the workflow until told to stop."""

    def __init__(self, index: int, port: int, shared: Shared, prefixes: list[str], seed: int, timeout: float):
        super().__init__(name=f"staff-{index + 1}", daemon=True)
        self.index = index
        self.username = staff_username(index)
        ip_index = index + 1
        self.source_ip = f"127.0.{1 + (ip_index - 1) // 254}.{1 + (ip_index - 1) % 254}"
        self.http = Http(port, self.source_ip, timeout)
        self.shared = shared
        self.prefixes = prefixes
        self.rng = random.Random(seed * 1000 + index)
        # (kind, start, end) of every request that got its expected answer; errors apart.
        self.records: list[tuple[str, float, float]] = []
        self.workflows: list[tuple[float, float]] = []
        self.errors: list[dict] = []
        self.refusals = 0
        self.replaced = 0
        self.sent_to: list[str] = []
        self.signed_in = False
        self.sequence = 0

    # -- one request, timed and checked
    def call(self, kind: str, method: str, path: str, expect: int = 200, fields=None, headers=None):
        started = time.monotonic()
        try:
            status, response_headers, body = self.http.request(method, path, fields, headers)
        except Exception as error:  # noqa: BLE001
            raise Unexpected(f"{type(error).__name__}: {error}") from None
        ended = time.monotonic()
        if status != expect:
            raise Unexpected(f"status {status} (expected {expect})", status, body)
        return response_headers, body, started, ended

    def record(self, kind: str, started: float, ended: float) -> None:
        self.records.append((kind, started, ended))

    def error(self, kind: str, problem: Unexpected, path: str, address: str | None = None) -> None:
        excerpt = re.sub(r"\s+", " ", problem.body or "")[:400]
        self.errors.append({
            "at": time.monotonic(), "wall": time.time(), "staff": self.username, "kind": kind,
            "path": re.sub(r"\d+", "N", path.split("?")[0]), "status": problem.status, "reason": problem.reason,
            "body": excerpt, "address": address,
        })

    # -- the phases
    def sign_in(self) -> None:
        path = "/signin"
        try:
            _h, page, s, e = self.call("signin", "GET", path)
            token = CSRF_FIELD.search(page)
            if not token:
                raise Unexpected("the Sign in page has no CSRF token", 200, page)
            self.record("signin", s, e)
            headers, _body, s, e = self.call(
                "signin", "POST", path, expect=302,
                fields={"username": self.username, "password": STAFF_PASSWORD, "csrf_token": token.group(1)},
            )
            if "/patients" not in (headers.get("Location") or ""):
                raise Unexpected(f"sign-in redirected to {headers.get('Location')!r}", 302)
            self.record("signin", s, e)
            self.signed_in = True
        except Unexpected as problem:
            self.error("signin", problem, path)

    def stopping(self) -> bool:
        return self.shared.stop.is_set()

    def workflow(self) -> None:
        hx = {"HX-Request": "true"}
        workflow_started = time.monotonic()
        prefix = self.rng.choice(self.prefixes)
        path = "/patients?" + urlencode({"last": prefix})
        kind = "search"
        address = None
        try:
            _h, body, s, e = self.call(kind, "GET", path, headers={**hx, "HX-Current-URL": "/patients"})
            if 'id="patient-results"' not in body:
                raise Unexpected("no results fragment", 200, body)
            ids = list(dict.fromkeys(ACCOUNT_LINK.findall(body)))
            if not ids:
                raise Unexpected(f"no patients found for a common prefix ({len(prefix)} letters)", 200, body)
            self.record(kind, s, e)
            self.rng.shuffle(ids)
            for patient_id in ids[:5]:
                if self.stopping():
                    return
                kind, path = "account", f"/patients/{patient_id}"
                _h, body, s, e = self.call(kind, "GET", path)
                token = CSRF_HEADER.search(body)
                if "<h1>" not in body or ">Register Patient</button>" not in body or not token:
                    raise Unexpected("the account page lacks its heading, Register Patient or the CSRF token", 200, body)
                self.record(kind, s, e)
                if self.stopping():
                    return
                kind, path = "window", f"/patients/{patient_id}/registration"
                _h, body, s, e = self.call(kind, "GET", path, headers=hx)
                if not body.startswith("<dialog") or ">Patient Registration</h2>" not in body:
                    raise Unexpected("not the Patient Registration dialog", 200, body)
                key = IDEMPOTENCY_KEY.search(body)
                if key is None:
                    if "given name" in body and "Update Basic Info" in body:
                        self.record(kind, s, e)
                        self.refusals += 1  # an unofficial name: refused, as the contract says
                        continue
                    raise Unexpected("the window has neither the form nor the given-name refusal", 200, body)
                self.record(kind, s, e)
                if self.stopping():
                    return
                self.sequence += 1
                address = f"{self.username}.{self.sequence}@{SINK_DOMAIN}"
                fields = {"method": "pin", "access": "full", "send_by": "email", "email": address,
                          "action": "send", "idempotency_key": key.group(1)}
                if "<legend>Send to</legend>" in body:
                    fields["send_to"] = "guardian"
                kind = "issue"
                _h, body, s, e = self.call(kind, "POST", path, fields=fields,
                                           headers={**hx, "X-CSRFToken": token.group(1)})
                where = WHERE_LINE.search(body)
                if PIN_SHOWN.search(body) and where and REPLACED_MEANWHILE in where.group(1):
                    # Another simulated staff member issued for the same patient at that moment,
                    # so this PIN's message was withdrawn before it went out: correct, not an error.
                    self.replaced += 1
                    self.record(kind, s, e)
                    self.workflows.append((workflow_started, e))
                    return
                if not PIN_SHOWN.search(body) or not where or "Sent by email to" not in where.group(1):
                    raise Unexpected(
                        "the issue answer does not show a PIN sent by email"
                        + (f" (it says: {re.sub(r'<[^>]+>', '', where.group(1)).strip()})" if where else ""), 200, body)
                self.record(kind, s, e)
                self.sent_to.append(address)
                self.workflows.append((workflow_started, e))
                return
            raise Unexpected("five patients in a row were refused (unofficial names)")
        except Unexpected as problem:
            self.error(kind, problem, path, address if kind == "issue" else None)
            if problem.status is None:
                time.sleep(0.2)  # a connection problem: do not spin

    def run(self) -> None:
        self.sign_in()
        try:
            self.shared.signed_in.wait(timeout=600)
        except threading.BrokenBarrierError:
            return
        if not self.signed_in:
            return
        while not self.stopping():
            self.workflow()
        self.http.close()


class Shared:
    def __init__(self, users: int):
        self.stop = threading.Event()
        self.signed_in = threading.Barrier(users + 1)


# ---------------------------------------------------------------------------------------------
# One run


def analyse(staff: list[Staff], t0: float, t1: float, wall_t0: float, wall_t1: float, arrivals: list) -> dict:
    seconds = t1 - t0
    by_kind: dict[str, list[float]] = defaultdict(list)
    per_second = Counter()
    for member in staff:
        for kind, s, e in member.records:
            if kind in KINDS and t0 <= e <= t1:
                by_kind[kind].append(e - s)
                per_second[int(e - t0)] += 1
    all_requests = [v for kind in KINDS for v in by_kind[kind]]
    workflows = [e - s for member in staff for s, e in member.workflows if t0 <= e <= t1]
    workflows_ended = [e for member in staff for _s, e in member.workflows if t0 <= e <= t1]
    errors = [error for member in staff for error in member.errors]
    errors_in_window = [error for error in errors if t0 <= error["at"] <= t1]
    sent_to = [address for member in staff for address in member.sent_to]
    received = Counter(rcpt for _t, rcpt in arrivals)
    reported = set(sent_to)
    per_second_workflows = Counter(int(e - t0) for e in workflows_ended)
    return {
        "seconds": seconds,
        "latency_ms": {**{kind: summary(by_kind[kind], seconds) for kind in KINDS},
                       "all requests": summary(all_requests, seconds)},
        "workflow_ms": summary(workflows, seconds),
        "workflows": len(workflows_ended),
        "workflows_per_s": len(workflows_ended) / seconds,
        "requests": len(all_requests),
        "requests_per_s": len(all_requests) / seconds,
        "errors_in_window": len(errors_in_window),
        "errors_total": len(errors),
        "errors_by_reason": Counter(f"{e['kind']} {e['path']}: {e['reason']}" for e in errors).most_common(),
        "error_samples": errors[:30],
        "refusals_unofficial_name": sum(member.refusals for member in staff),
        "replaced_by_a_concurrent_issue": sum(member.replaced for member in staff),
        # Fairness: how many workflows each staff member completed in the window.
        "workflows_per_staff": sorted(sum(1 for _s, e in member.workflows if t0 <= e <= t1) for member in staff),
        "connection_retries": sum(member.http.retries for member in staff),
        "signed_in": sum(member.signed_in for member in staff),
        "per_second_requests": [per_second.get(i, 0) for i in range(int(seconds) + 1)],
        "per_second_workflows": [per_second_workflows.get(i, 0) for i in range(int(seconds) + 1)],
        "mail": {
            "issued_and_shown_sent": len(sent_to),
            "sink_received": sum(received.values()),
            "sink_received_in_window": sum(1 for t, _r in arrivals if wall_t0 <= t <= wall_t1),
            "sink_distinct_recipients": len(received),
            "shown_sent_not_received": len(reported - set(received)),
            "received_not_shown_sent": len(set(received) - reported),
            "duplicates": sum(c - 1 for c in received.values() if c > 1),
            "received_not_shown_sent_addresses": sorted(set(received) - reported)[:50],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="simulated staff members (default 50)")
    parser.add_argument("--duration", type=float, default=120, help="measured seconds (default 120)")
    parser.add_argument("--warmup", type=float, default=15, help="seconds of load before measuring (default 15)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, for 2 cores)")
    parser.add_argument("--worker-class", choices=("gthread", "sync"), default="gthread")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--worker-connections", type=int, default=None,
                        help="gunicorn's --worker-connections (gthread: connections a worker accepts; default: --threads)")
    parser.add_argument("--keep-alive", type=int, default=None,
                        help="gunicorn's --keep-alive seconds (default: gunicorn's own, 2; 0 closes each connection)")
    parser.add_argument("--patients", type=int, default=100_000, help="patients in all, 10%% in the searched practice")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL (name starting with 'bench'; WIPED when built)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL with a database number (FLUSHED)")
    parser.add_argument("--prefixes", type=int, default=200, help="how many common last-name prefixes are searched")
    parser.add_argument("--prefix-length", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--timeout", type=float, default=60, help="client socket timeout in seconds")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database even when it could be reused")
    parser.add_argument("--results-md", type=Path, default=RESULTS_MD)
    parser.add_argument("--results-json", type=Path, default=RESULTS_JSON)
    parser.add_argument("--render-only", action="store_true", help="rewrite --results-md from --results-json")
    args = harness.parse_args(parser)
    harness.smoke_paths(args, "load")
    if args.smoke:
        args.users, args.duration, args.warmup, args.workers, args.threads = 2, 3, 1, 1, 2
        args.patients, args.prefixes, args.prefix_length = 300, 5, 1
        if args.postgres == DEFAULT_POSTGRES:
            args.postgres = SMOKE_POSTGRES
        if args.redis == DEFAULT_REDIS:
            args.redis = SMOKE_REDIS
    if args.render_only:
        write_results(args.results_md, render(json.loads(args.results_json.read_text())))
        return
    if args.users > 254 * 254:
        raise SystemExit("at most 64,516 users (one loopback address each)")

    run_started = time.monotonic()
    started_utc = datetime.now(UTC)
    check_database_name(args.postgres)
    pg_version = postgres_version(args.postgres)
    redis_version = flush_redis(args.redis)
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        raise SystemExit("gunicorn is not installed: .venv/bin/pip install gunicorn==27.0.1") from None

    report, built = prepare_data(args.postgres, args.patients, args.seed, args.rebuild)
    practice_id = report["searched_practice_id"]
    created = ensure_staff(args.postgres, practice_id, args.users)
    prefixes = common_prefixes(args.postgres, practice_id, args.prefix_length, args.prefixes)
    if not prefixes:
        raise SystemExit("no last-name prefixes found in the searched practice")
    totals_before = database_totals(args.postgres)
    scrypt_ms = scrypt_cost_ms()
    load_start = loadavg()
    since = datetime.now(UTC)  # rows made from here on are this run's
    setup_seconds = time.monotonic() - run_started
    print(f"data ready ({'built' if built else 'reused'}; {created} staff logins created; "
          f"{len(prefixes)} prefixes, {prefixes[0][0]!r} {prefixes[0][1]} to {prefixes[-1][0]!r} {prefixes[-1][1]} patients) "
          f"in {setup_seconds:.1f} s", file=sys.stderr)

    workdir = harness.output.results if args.smoke else Path(tempfile.mkdtemp(prefix="bench-load-"))
    log_path = workdir / "gunicorn.log"
    gunicorn: subprocess.Popen | None = None
    sink: multiprocessing.Process | None = None
    sink_conn = None
    staff: list[Staff] = []
    shared = Shared(args.users)

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        # The sink, in its own process.
        mail_port = free_port()
        context = multiprocessing.get_context("spawn")
        sink_conn, child_conn = context.Pipe()
        sink = context.Process(target=run_sink, args=(mail_port, child_conn), name="bench-load-sink", daemon=True)
        sink.start()
        if not sink_conn.poll(60) or sink_conn.recv() != "ready":
            raise SystemExit("the SMTP sink did not start")

        # gunicorn.
        port = free_port()
        command = gunicorn_command(args, port)
        with open(log_path, "wb") as log:
            gunicorn = subprocess.Popen(command, cwd=REPO, env=gunicorn_env(args.postgres, mail_port, args.redis),
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_serving(gunicorn, port, log_path)
        print(f"gunicorn serving on 127.0.0.1:{port} (pid {gunicorn.pid}); sink on 127.0.0.1:{mail_port} (pid {sink.pid})",
              file=sys.stderr)

        # Staff sign in, then load: warm-up, then the measured window.
        staff = [Staff(i, port, shared, [p for p, _n in prefixes], args.seed, args.timeout) for i in range(args.users)]
        for member in staff:
            member.start()
        signin_started = time.monotonic()
        shared.signed_in.wait(timeout=600)
        signin_seconds = time.monotonic() - signin_started
        signed = sum(m.signed_in for m in staff)
        print(f"{signed}/{args.users} signed in in {signin_seconds:.1f} s; warming up {args.warmup:.0f} s", file=sys.stderr)
        if signed == 0:
            raise SystemExit(f"no staff member could sign in: {staff[0].errors[:1]}")
        time.sleep(args.warmup)

        pg_pids = backend_pids(args.postgres)
        load_window_start = loadavg()
        cpu_before = cpu_snapshot(gunicorn.pid, sink.pid, pg_pids)
        t0, wall_t0 = time.monotonic(), time.time()
        samples = []
        while (left := args.duration - (time.monotonic() - t0)) > 0:
            time.sleep(min(5.0, left))
            sample = {"t": round(time.monotonic() - t0, 1),
                      "connections_per_worker": worker_connections(gunicorn.pid, port),
                      "postgres_backends": postgres_activity(args.postgres)}
            samples.append(sample)
            done = sum(len(m.workflows) for m in staff)
            errors = sum(len(m.errors) for m in staff)
            print(f"  {sample['t']:5.0f} s: {done} workflows so far, {errors} errors; connections per worker "
                  f"{sample['connections_per_worker']}; backends {sample['postgres_backends']}", file=sys.stderr)
        t1, wall_t1 = time.monotonic(), time.time()
        cpu_after = cpu_snapshot(gunicorn.pid, sink.pid, sorted(set(pg_pids) | set(backend_pids(args.postgres))))
        load_window_end = loadavg()
        shared.stop.set()
        for member in staff:
            member.join(timeout=args.timeout + 5)
        time.sleep(1.0)  # any late mail
        sink_conn.send("stats")
        arrivals = sink_conn.recv()
    finally:
        shared.stop.set()
        try:
            shared.signed_in.abort()
        except Exception:  # noqa: BLE001
            pass
        stop_process_group(gunicorn, "gunicorn")
        if sink is not None:
            try:
                sink_conn.send("stop")
            except Exception:  # noqa: BLE001
                pass
            sink.join(timeout=10)
            if sink.is_alive():
                sink.terminate()
                sink.join(timeout=10)
        for engine in _activity_engines.values():
            engine.dispose()
        try:
            flush_redis(args.redis)
        except SystemExit as error:
            print(error, file=sys.stderr)

    log_text = log_path.read_text(errors="replace")
    log_lines = log_text.splitlines()
    result = analyse(staff, t0, t1, wall_t0, wall_t1, arrivals)
    result.update(
        date=started_utc.strftime("%Y-%m-%d %H:%M UTC"),
        git=git_state(),
        command=" ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/bench_load.py", *sys.argv[1:]]),
        gunicorn_command=" ".join(shlex.quote(a) for a in ["gunicorn", *command[3:]]),
        settings={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        machine=machine_info(pg_version, redis_version),
        data={"built_this_run": built, "patients": report["n"], "searched_practice": report["searched_practice"],
              "searched_practice_patients": report["n"] // generate.PRACTICE_COUNT, "seed": report["seed"],
              "built_at": report.get("built_at"), "build_seconds": report.get("seconds_total"),
              "staff_logins_created": created, "before_run": totals_before,
              "prefixes": len(prefixes), "prefix_length": args.prefix_length,
              "prefix_patients_min_max": [prefixes[-1][1], prefixes[0][1]]},
        database_after=database_counts(args.postgres, since),
        scrypt_ms=scrypt_ms,
        cpu=cpu_used(cpu_before, cpu_after),
        cpu_per_gunicorn_process={str(pid): round(v - cpu_before["gunicorn"].get(pid, 0.0), 2)
                                  for pid, v in cpu_after["gunicorn"].items()},
        samples=samples,
        load_average={"before_server": load_start, "window_start": load_window_start, "window_end": load_window_end},
        signin_seconds=signin_seconds,
        setup_seconds=setup_seconds,
        gunicorn_log={"lines": len(log_lines),
                      "problem_lines": [line for line in log_lines
                                        if re.search(r"Traceback|ERROR|CRITICAL|WORKER TIMEOUT|Worker .* (was|exited)", line)][:40],
                      "path": str(log_path)},
        total_seconds=time.monotonic() - run_started,
        results_json=str(args.results_json.resolve().relative_to(REPO)) if args.results_json.resolve().is_relative_to(REPO) else str(args.results_json),
    )
    args.results_json.parent.mkdir(parents=True, exist_ok=True)
    args.results_json.write_text(json.dumps(result, indent=1, default=str))
    write_results(args.results_md, render(result))
    print_summary(result)
    print(f"wrote {args.results_md} and {args.results_json} (gunicorn log: {log_path})", file=sys.stderr)
    if result["errors_total"]:
        sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Output


def fmt(value) -> str:
    if value is None or value != value:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def render(r: dict) -> str:
    m, s, d, cpu = r["machine"], r["settings"], r["data"], r["cpu"]
    seconds = r["seconds"]
    server = (f"`{r['gunicorn_command']}`")
    out = [START_MARK, "## Load (benchmarks/bench_load.py)", ""]
    out.append(f"Generated by `{r['command']}`; do not edit by hand between the markers.")
    out.append("")
    out += [
        f"**Setup.** {server} on 127.0.0.1, PostgreSQL `{make_url(s['postgres']).database}` "
        f"({d['patients']:,} patients from benchmarks/generate.py, {d['searched_practice_patients']:,} in the searched practice; "
        f"{'built for this run' if d['built_this_run'] else 'reused from an earlier run, which left its PINs'}: "
        f"{d['before_run']['credentials']:,} credentials and {d['before_run']['audit_events']:,} audit events before the run), "
        f"rate limits in Redis (`{s['redis']}`), mail to an aiosmtpd sink on loopback in its own process. "
        f"{s['users']} simulated staff (threads with http.client in one process, keep-alive), each its own staff login "
        f"connecting from its own loopback address (127.0.1.x), so `SIGNIN_RATE_LIMIT` and `PORTAL_RATE_LIMIT` "
        f"stay at their defaults; production scrypt for passwords and PINs. Each loops, with no think time: search "
        f"(`GET /patients?last=` one of the practice's {d['prefixes']} most common {d['prefix_length']}-letter last-name "
        f"prefixes, `HX-Request`) → account (`GET /patients/ID`, a random patient of the results) → window "
        f"(`GET /patients/ID/registration`, `HX-Request`) → issue (`POST` the form with the CSRF token: PIN, "
        f"by email to a unique sink address; the answer must show the PIN and `Sent by email to`). "
        f"{s['warmup']:.0f} s warm-up, then {seconds:.0f} s measured. Latency is the client's (send to last byte).",
        "",
    ]
    if s["worker_class"] == "gthread":
        out += [
            f"**Why gthread.** {s['workers']} workers for {m.get('cores')} cores (README), each with {s['threads']} threads: "
            "much of a request is waiting (PostgreSQL, the inline SMTP send, and the issue's scrypt PIN hash, which runs "
            "with the GIL released), so a thread can serve a search while another waits, where a sync worker holds its "
            "only slot; gthread also keeps connections alive (sync closes each).",
            "",
        ]
    out += ["| machine | |", "| --- | --- |"]
    for key, name in (("cores", "CPU cores"), ("cpu", "CPU"), ("memory", "Memory"), ("os", "OS"), ("python", "Python"),
                      ("postgresql", "PostgreSQL server"), ("redis", "Redis server"), ("gunicorn", "gunicorn"),
                      ("flask", "Flask"), ("psycopg", "psycopg"), ("aiosmtpd", "aiosmtpd")):
        out.append(f"| {name} | {m.get(key) or '–'} |")
    out.append(f"| one werkzeug scrypt hash (production PIN/password hash), median of 5 before the run | {r['scrypt_ms']:.0f} ms |")
    out.append(f"| date | {r['date']} |")
    out.append(f"| code | {r['git']} |")
    out.append("")
    errors_note = "✓" if r["errors_total"] == 0 else "✗ (must be 0; see below)"
    out += ["### Result", "", "| | |", "| --- | ---: |",
            f"| workflows (search → account → window → issue) | {r['workflows']:,} = **{r['workflows_per_s']:.2f}/s** |",
            f"| requests | {r['requests']:,} = **{r['requests_per_s']:.1f}/s** |",
            f"| errors in the measured window | **{r['errors_in_window']}** {errors_note} |",
            f"| errors in the whole run (sign-in, warm-up, window) | {r['errors_total']} |",
            f"| windows refused for an unofficial name (expected, another patient opened) | {r['refusals_unofficial_name']} |",
            f"| keep-alive connections closed by the server and retried | {r['connection_retries']} |",
            f"| staff signed in | {r['signed_in']} / {s['users']} (in {r['signin_seconds']:.1f} s) |"]
    per_staff = r.get("workflows_per_staff")
    if per_staff:
        out.append(f"| workflows per staff member in the window: min / median / max | {per_staff[0]} / "
                   f"{statistics.median(per_staff):g} / {per_staff[-1]} |")
    out.append("")
    out += ["### Latency, ms (requests and workflows that ended in the measured window)", "",
            "| kind | requests | per s | p50 | p95 | p99 | max | mean |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = [(k, r["latency_ms"][k]) for k in (*KINDS, "all requests")] + [("whole workflow", r["workflow_ms"])]
    for name, e in rows:
        bold = "**" if name in ("all requests", "whole workflow") else ""
        out.append(f"| {bold}{name}{bold} | {e['n']:,} | {e['per_s']:.2f} | {fmt(e['p50'])} | {fmt(e['p95'])} | "
                   f"{fmt(e['p99'])} | {fmt(e['max'])} | {fmt(e['mean'])} |")
    out.append("")
    mail, after = r["mail"], r["database_after"]
    statuses = ", ".join(f"{k} {v:,}" for k, v in after["welcome_messages_by_status"].items()) or "none"
    out += ["### Mail and database afterwards (whole run, warm-up included)", "", "| | |", "| --- | ---: |",
            f"| issues whose answer showed `Sent by email to` | {mail['issued_and_shown_sent']:,} |",
            f"| messages the sink received (in the window) | {mail['sink_received']:,} ({mail['sink_received_in_window']:,}) |",
            f"| shown sent but not received / received but not shown sent / duplicates | "
            f"{mail['shown_sent_not_received']} / {mail['received_not_shown_sent']} / {mail['duplicates']} |",
            f"| `welcome_messages` rows made during the run, by status | {statuses} |",
            f"| registration credentials issued during the run (earlier PINs revoked by them) | "
            f"{after['credentials_issued']:,} ({after['credentials_revoked_since']:,}) |",
            "| audit events during the run | " + ", ".join(f"{k} {v:,}" for k, v in after["audit_by_action"].items()) + " |",
            ""]
    if after.get("welcome_messages_last_errors"):
        out += ["Messages not sent, by reason: " + "; ".join(f"{k}: {v}" for k, v in after["welcome_messages_last_errors"].items()), ""]
    capacity = (m.get("cores") or 1) * seconds
    la = r["load_average"]
    out += [f"### CPU: {m.get('cores')} cores shared by the server, PostgreSQL, the client and anything else running", "",
            f"CPU seconds used during the {seconds:.0f} s window (capacity {capacity:.0f} CPU-s), from /proc:", "",
            "| process | CPU-s | share of the machine |", "| --- | ---: | ---: |"]
    for key, name in (("gunicorn", f"gunicorn (master + {s['workers']} workers)"),
                      ("postgres", "PostgreSQL backends of this database"),
                      ("client", f"the client ({s['users']} threads, this process)"),
                      ("sink", "the SMTP sink process"),
                      ("rest", "everything else on the machine (PostgreSQL background, Redis, other work)"),
                      ("machine_busy", "**whole machine busy**")):
        out.append(f"| {name} | {cpu[key]:.1f} | {100 * cpu[key] / capacity:.0f}% |")
    out.append("")
    workers = dict(r.get("cpu_per_gunicorn_process") or {})
    per_worker = defaultdict(list)
    for sample in r.get("samples") or []:
        for pid, n in sample["connections_per_worker"].items():
            per_worker[pid].append(n)
    if per_worker:
        out.append("gunicorn processes: " + "; ".join(
            f"pid {pid}: {workers.get(pid, 0):.1f} CPU-s, {min(v)}–{max(v)} client connections"
            for pid, v in sorted(per_worker.items())) + f" (master {sum(workers.values()) - sum(workers.get(p, 0) for p in per_worker):.1f} CPU-s). "
            "PostgreSQL backends of this database, sampled every 5 s: " + ", ".join(
            f"{k} {min(x['postgres_backends'].get(k, 0) for x in r['samples'])}–{max(x['postgres_backends'].get(k, 0) for x in r['samples'])}"
            for k in sorted({k for x in r["samples"] for k in x["postgres_backends"]})) + ".")
        out.append("")
    out.append(f"Load average (1, 5, 15 min): {la['before_server']} before the server started, {la['window_start']} when the "
               f"window began, {la['window_end']} when it ended. The client's cost is part of what the machine had to "
               "give: on a dedicated server the app would get the client's share too.")
    out.append("")
    if cpu["rest"] > 0.2 * capacity:
        out += [f"**The machine was shared:** other work used {100 * cpu['rest'] / capacity:.0f}% of its CPU during the window, "
                "so these figures are below what the same 2 cores would give this app alone.", ""]
    if r["errors_total"]:
        out += ["### Errors", "", "| count | what |", "| ---: | --- |"]
        for what, count in r["errors_by_reason"]:
            out.append(f"| {count} | {what.replace('|', '/')} |")
        out.append("")
        if any("TimeoutError" in what for what, _count in r["errors_by_reason"]):
            out += [f"`TimeoutError`: no answer within the client's {s['timeout']:.0f} s socket timeout (`--timeout`; "
                    "nginx's default `proxy_read_timeout` is also 60 s, so a proxy would have answered 504). Issues whose "
                    "answer never came but whose mail reached the sink: "
                    f"{r['mail']['received_not_shown_sent']}.", ""]
    if r["gunicorn_log"]["problem_lines"]:
        out += ["gunicorn's log had problem lines:", "", "```", *r["gunicorn_log"]["problem_lines"][:15], "```", ""]
    out.append(f"Run: {r['total_seconds']:.0f} s in all (setup {r['setup_seconds']:.0f} s). Raw figures: "
               f"`{r.get('results_json', 'benchmarks/results/load.json')}` (per-second counts, 5-second samples, error samples).")
    out.append("")
    out.append(END_MARK)
    return "\n".join(out)


def write_results(path: Path, section: str) -> None:
    if path.exists():
        current = path.read_text()
    else:
        current = "# Benchmark results\n\n"
    if START_MARK in current and END_MARK in current:
        before, rest = current.split(START_MARK, 1)
        updated = before + section + rest.split(END_MARK, 1)[1]
    else:
        updated = current.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)


def print_summary(r: dict) -> None:
    print(f"\n{r['workflows']} workflows ({r['workflows_per_s']:.2f}/s), {r['requests']} requests "
          f"({r['requests_per_s']:.1f}/s) in {r['seconds']:.0f} s; errors {r['errors_in_window']} in the window, "
          f"{r['errors_total']} in all", file=sys.stderr)
    for name, e in [*r["latency_ms"].items(), ("whole workflow", r["workflow_ms"])]:
        print(f"  {name:14} n={e['n']:6} p50 {fmt(e['p50']):>7} p95 {fmt(e['p95']):>7} p99 {fmt(e['p99']):>7} ms",
              file=sys.stderr)
    print(f"  mail: {r['mail']}", file=sys.stderr)
    print(f"  welcome_messages: {r['database_after']['welcome_messages_by_status']}", file=sys.stderr)
    print("  cpu: " + ", ".join(f"{k} {v:.1f}" for k, v in r["cpu"].items()), file=sys.stderr)
    for what, count in r["errors_by_reason"][:10]:
        print(f"  error x{count}: {what}", file=sys.stderr)


if __name__ == "__main__":
    main()
