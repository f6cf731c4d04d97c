"""What every benchmark script shares: where its files go (`--smoke`, `--results-dir`), the
machine it ran on, statistics, the app and its databases, a signed-in client, a keep-alive HTTP
connection, an SMTP sink on loopback.

A benchmark writes its JSON (`write_result`) and its section of RESULTS.md, made by its own
`render` from that JSON; benchmarks/render_results.py makes every section again from the JSON
under benchmarks/results/, measuring nothing. `--smoke` runs a benchmark at a tiny size, with
its data and its JSON in a temporary folder (never benchmarks/results/): what
tests/test_benchmark_smoke.py runs, so that a benchmark broken by a change in the product fails
`make test`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, make_url, text  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
SECRET_KEY = "benchmark-secret-key-not-for-production"
PORTAL_URL = "https://portal.bench.example/portal/register"
MAIL_SENDER = "Bench Pediatrics <portal@bench.example>"
CHEAP_HASH = "scrypt:1024:8:1"  # the tests' setting (tests/conftest.py): set-up speed only
LABEL_DB = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


class Output:
    """Where this run keeps its generated data (git-ignored) and writes its JSON."""

    smoke = False
    data = REPO / "benchmarks" / "data"
    results = RESULTS


output = Output()


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """The script's own arguments plus `--smoke` and `--results-dir`; with --smoke, the data and
    the JSON go to a fresh temporary folder unless --results-dir names one."""
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny run to check the benchmark still works (data and JSON in a temporary folder)")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes (default benchmarks/results/)")
    args = parser.parse_args(argv)
    output.smoke = args.smoke
    if args.smoke:
        folder = args.results_dir or Path(tempfile.mkdtemp(prefix="bench-smoke-"))
        output.results = folder
        output.data = folder / "data"
    elif args.results_dir:
        output.results = args.results_dir
    return args


def smoke_paths(args: argparse.Namespace, name: str) -> None:
    """For a script with --results-md and --results-json: both into the smoke run's folder, the
    JSON into --results-dir when one is given."""
    if output.smoke:
        args.results_md = results_md()
    if output.smoke or args.results_dir:
        args.results_json = output.results / f"{name}.json"


def write_result(name: str, result: dict) -> Path:
    """The benchmark's raw figures as results/<name>.json (the renderer's only input)."""
    output.results.mkdir(parents=True, exist_ok=True)
    path = output.results / f"{name}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {path}", file=sys.stderr)
    return path


def read_result(name: str, default: dict | None = None) -> dict:
    """The stored figures to merge this run into (a smoke run starts from nothing)."""
    path = output.results / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    return default if default is not None else {}


# ---------------------------------------------------------------------------------------------
# Statistics and formatting


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values_s: list[float]) -> dict:
    """p50, p95 and mean in ms of durations in seconds."""
    ms = [v * 1000 for v in values_s]
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "mean": statistics.fmean(ms) if ms else float("nan"),
            "n": len(ms)}


def fmt(value: float | None, digits: int | None = None) -> str:
    """A figure for a table: `–` when missing; one decimal from 10 up, two below, unless told."""
    if value is None or value != value:
        return "–"
    if digits is None:
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:,.{digits}f}"


# ---------------------------------------------------------------------------------------------
# The machine and the code measured


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def git_state() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ":!benchmarks"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        return f"{head}{' + uncommitted changes outside benchmarks/' if dirty else ''}"
    except OSError:
        return "unknown"


def machine_info(postgres_version: str | None = None, **extra) -> dict:
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            memory = f"{int(handle.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "memory": memory, "os": platform.platform(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "postgresql": postgres_version,
            **extra}


MACHINE_ROWS = (("cores", "CPU cores"), ("cpu", "CPU"), ("memory", "Memory"), ("os", "OS"), ("python", "Python"),
                ("sqlite", "SQLite (Python's)"), ("postgresql", "PostgreSQL server"))


def machine_table(machine: dict, rows=MACHINE_ROWS) -> list[str]:
    """The machine as a two-column markdown table."""
    return ["| machine | |", "| --- | --- |", *[f"| {name} | {machine.get(key) or '–'} |" for key, name in rows]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The app and its databases


def flask_command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("flask")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "flask"]
    return [*base, "--app", "app", *args]


def flask_env(database_url: str, **extra: str) -> dict[str, str]:
    """This process's environment without the app's own settings, then the benchmark's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLASK_", "MAIL_")) and k not in {"DATABASE_URL", "SECRET_KEY", "OUTBOX_KEY"}}
    env.update(DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY, **extra)
    return env


def absolute_sqlite_url(database_url: str) -> str:
    """Flask-SQLAlchemy reads a relative SQLite path as relative to instance/: make it absolute."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
        return url.set(database=str(Path(url.database).resolve())).render_as_string(hide_password=False)
    return database_url


def check_bench_database(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql" and not (url.database or "").startswith("bench"):
        raise SystemExit(f"refusing database {url.database!r}: benchmark databases' names start with 'bench'")


def wipe(database_url: str) -> None:
    """SQLite: the file removed; PostgreSQL (a `bench*` database only): the public schema dropped."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    check_bench_database(database_url)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def ensure_postgres_database(database_url: str) -> None:
    """CREATE DATABASE when it does not exist yet (names starting with 'bench' only)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return
    check_bench_database(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database})
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def migrate(database_url: str) -> float:
    """`flask --app app db upgrade`, as an operator runs it: seconds taken."""
    started = time.monotonic()
    result = subprocess.run(flask_command("db", "upgrade"), cwd=REPO, env=flask_env(database_url),
                            capture_output=True, text=True, timeout=600)
    if result.returncode:
        raise SystemExit(f"flask db upgrade failed:\n{result.stderr}")
    return time.monotonic() - started


def fresh_database(database_url: str) -> float:
    """Created when missing, wiped and migrated: seconds taken."""
    started = time.monotonic()
    ensure_postgres_database(database_url)
    wipe(database_url)
    migrate(database_url)
    return time.monotonic() - started


def make_app(database_url: str, **config):
    from app import create_app

    return create_app({
        "SECRET_KEY": SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PORTAL_URL": PORTAL_URL,
        **config,
    })


def postgres_reachable(url: str) -> str | None:
    """The server's version, or None (with the reason printed) when it cannot be used."""
    check_bench_database(url)
    try:
        engine = create_engine(make_url(url).set(database="postgres"))
        with engine.connect() as connection:
            version = connection.scalar(text("SHOW server_version"))
        engine.dispose()
        return version
    except Exception as error:  # noqa: BLE001 - any reason to skip PostgreSQL is printed
        print(f"PostgreSQL skipped: cannot use {make_url(url).render_as_string()}: {error}", file=sys.stderr)
        return None


def count_rows(url: str, table: str = "patients") -> int | None:
    """Rows in the table, or None when the database or the table does not exist."""
    if make_url(url).get_backend_name() == "sqlite" and not Path(make_url(url).database).exists():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(text(f"SELECT count(*) FROM {table}"))
    except Exception:  # noqa: BLE001 - no such table / database: the caller builds it
        return None
    finally:
        engine.dispose()


def databases_to_run(requested: str, postgres: str) -> tuple[list[str], str | None]:
    """The databases named (sqlite, postgresql), PostgreSQL dropped when unreachable; and its version."""
    databases = [d.strip() for d in requested.split(",") if d.strip()]
    unknown = set(databases) - set(LABEL_DB)
    if unknown:
        raise SystemExit(f"unknown database(s) {', '.join(sorted(unknown))}: use sqlite,postgresql")
    version = postgres_reachable(postgres) if "postgresql" in databases else None
    if "postgresql" in databases and version is None:
        databases.remove("postgresql")
    return databases, version


# ---------------------------------------------------------------------------------------------
# Clients


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
IDEMPOTENCY_KEY = re.compile(r'name="idempotency_key" type="hidden" value="([^"]+)"')
PIN_SHOWN = re.compile(r'class="pin">([0-9A-Z]{4}-[0-9A-Z]{4})<')
HX = {"HX-Request": "true"}


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    if not match:
        raise SystemExit("the page carries no CSRF token")
    return match.group(1)


def signed_in_test_client(app, username: str, password: str):
    """Flask's test client, signed in through the Sign in page."""
    client = app.test_client()
    page = client.get("/signin")
    response = client.post("/signin", data={"username": username, "password": password,
                                            "csrf_token": csrf_token(page.get_data(as_text=True))})
    if response.status_code != 302 or "/patients" not in response.headers.get("Location", ""):
        raise SystemExit(f"sign-in failed: {response.status_code} {response.headers.get('Location')}")
    return client


class Http:
    """One persistent HTTP/1.1 connection with a cookie jar; `source_ip` makes each simulated
    workstation its own client for the rate limits. A kept-alive connection the server closed is
    reopened once (as browsers do)."""

    def __init__(self, port: int, source_ip: str | None = None, timeout: float = 60):
        self.port, self.source_ip, self.timeout = port, source_ip, timeout
        self.connection: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.retries = 0

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, method: str, path: str, body: str | dict | None = None, headers: dict | None = None):
        """(status, headers, body bytes)."""
        if isinstance(body, dict):
            body = urlencode(body)
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout,
                    source_address=(self.source_ip, 0) if self.source_ip else None)
            reused = self.connection.sock is not None
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            try:
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if reused and attempt == 0:
                    self.retries += 1
                    continue
                raise
            except Exception:
                self.close()
                raise
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(header)
                for name, morsel in cookie.items():
                    if morsel.value == "" or morsel["max-age"] == "0":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            if response.will_close:
                self.close()
            return response.status, response.headers, data
        raise AssertionError("unreachable")

    def sign_in(self, username: str, password: str) -> None:
        _status, _headers, page = self.request("GET", "/signin")
        status, _headers, _body = self.request("POST", "/signin", body={
            "username": username, "password": password, "csrf_token": csrf_token(page.decode())})
        if status != 302:
            raise SystemExit(f"HTTP sign-in failed: {status}")


@contextmanager
def http_server(app, threaded: bool = False):
    """The app behind werkzeug (HTTP/1.1 keep-alive) in a thread of this process: its port."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_request(self, *args, **kwargs):
            pass

    server = make_server("127.0.0.1", 0, app, threaded=threaded, request_handler=Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def wait_until_serving(process: subprocess.Popen, port: int, log_path: Path, timeout: float = 60) -> None:
    """Until GET /signin answers 200 on the port; the process's log is named if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app server exited ({process.returncode}):\n{Path(log_path).read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/signin")
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the app server did not answer within {timeout:.0f} s; see {log_path}")


# ---------------------------------------------------------------------------------------------
# Mail


class RecordingSink:
    """An aiosmtpd handler keeping each message's arrival time, envelope recipients and bytes
    (parsed afterwards, so the sink does as little as possible while the app is timed)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.messages: list[tuple[float, list[str], bytes]] = []

    @property
    def count(self) -> int:
        return len(self.messages)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((time.monotonic(), list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@contextmanager
def smtp_sink(handler=None):
    """An aiosmtpd server on a free loopback port with this handler (a RecordingSink by
    default): yields (port, handler). Its logger is silenced: message lines carry PINs."""
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    handler = handler if handler is not None else RecordingSink()
    port = free_port()  # Controller(port=0) cannot report the port it got
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=30)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def results_md() -> Path:
    """The markdown a run rewrites its section of: benchmarks/RESULTS.md, or a copy in the smoke
    run's folder (a smoke run never touches the recorded results)."""
    return output.results / "RESULTS.md" if output.smoke else REPO / "benchmarks" / "RESULTS.md"


def replace_section(begin: str, end: str, section: str, path: Path | None = None) -> Path:
    """`section` (which starts with `begin` and ends with `end`) in place of the one between
    those markers, or appended when they are absent."""
    path = path or results_md()
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    if begin in current and end in current:
        current = current[: current.index(begin)] + section + current[current.index(end) + len(end):]
    else:
        current = current.rstrip() + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(current)
    return path


class AcceptingHandler:
    """A working mail server that keeps nothing."""

    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


class RefusingHandler:
    """550 to every recipient: a permanent refusal."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 Mailbox unavailable"


class GreylistingHandler:
    """451 (try again later) to the first recipient, then accepts."""

    def __init__(self):
        self.refused = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.refused:
            self.refused = True
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def point_mail_at(app, **settings) -> None:
    """Flask-Mail reads its settings once, in init_app: update them and bind again."""
    from blueprints.extensions import mail

    app.config.update(settings)
    mail.init_app(app)
