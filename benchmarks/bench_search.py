"""Patient search: the results fragment's server time at 10k, 100k and 1M patients, on SQLite and
PostgreSQL, in-process and over HTTP, with EXPLAIN of the SQL the app actually runs.

    .venv/bin/python benchmarks/bench_search.py                                 # 10k,100k,1M on both
    .venv/bin/python benchmarks/bench_search.py --sizes 10000 --databases sqlite   # quick
    make bench BENCH_SIZES=10000                                                # the same through make

PostgreSQL: `--postgres URL` (default postgresql+psycopg://postgres@127.0.0.1:5432/bench_search);
one database per size is used beside it (`bench_search_10000`, ...; created when missing, its
public schema WIPED when the data is built; only names starting with `bench` are accepted).
When the server cannot be reached the PostgreSQL runs are skipped, saying so.

For each database and size, benchmarks/generate.py builds the data (10 practices, the searched
one holding 10%; SQLite files under benchmarks/data/, reused while the generator, seed and size
match; PostgreSQL reloaded per size). Then, for every query below, as the signed-in staff member
of the searched practice (signed in through POST /signin, a server-side staff session):

- in-process: `GET /patients?...` with `HX-Request: true` through Flask's test client; W warm-up
  requests, then R timed ones (default 20 and 200). The view's `search_patients` and `audit`
  calls are wrapped with timers, so each request splits into the search itself, the audit row
  (one INSERT and its COMMIT) and the rest (session checks, template, WSGI).
- in-process without the audit row: the same with the view's `audit` replaced by a no-op (the
  benchmark's monkeypatch; the product is unchanged), to show what the audit row costs.
- over HTTP: the same requests to a werkzeug server (HTTP/1.1, keep-alive) in a thread, over one
  persistent connection (http.client); the time is the client's, from sending to the last byte.
- EXPLAIN: the search's SQL and parameters are captured with SQLAlchemy's `before_cursor_execute`
  during one request and explained: SQLite `EXPLAIN QUERY PLAN`, PostgreSQL
  `EXPLAIN (ANALYZE, BUFFERS)` (parameters inlined client-side, i.e. a custom plan).

p50 and p95 are over the R timed requests; growth is p95 at the largest size over p95 at the
smallest. Raw figures are merged into benchmarks/results/search.json (keyed by database and
size, so a quick run refreshes its rows and keeps the others, each with its own date), and the
section between the `bench_search` markers of benchmarks/RESULTS.md is rewritten from it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import event, func, make_url, select, text  # noqa: E402

from benchmarks import generate, harness  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    Http,
    count_rows,
    csrf_token,
    git_state,
    http_server,
    loadavg,
    machine_info,
    make_app,
    postgres_reachable,
    signed_in_test_client,
    summary,
)

RESULTS_JSON = REPO / "benchmarks" / "results" / "search.json"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
START_MARK = "<!-- bench_search:start -->"
END_MARK = "<!-- bench_search:end -->"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_search"
TARGET_P95_MS = 20.0
TARGET_GROWTH = 1.5


def query_set(dob: date | None = None) -> list[tuple[str, dict, bool]]:
    """(label, query-string arguments, required by the issue). `dob`: a date of birth some
    4-year-old of the searched practice has (see searched_dob)."""
    dob = dob or date(2000, 1, 1)
    return [
        ("last, 1 letter (m)", {"last": "m"}, True),
        ("last, 2 letters (ma)", {"last": "ma"}, True),
        ("last, 4 letters (john)", {"last": "john"}, True),
        ("first + last (a + john)", {"last": "john", "first": "a"}, True),
        ("date of birth (a 4-year-old's)", {"dob": dob.isoformat()}, True),
        ("ma + status all", {"last": "ma", "status": "all"}, True),
        ("ma + status registered", {"last": "ma", "status": "registered"}, True),
        ("ma + status pending", {"last": "ma", "status": "pending"}, True),
        ("ma + status self_registered", {"last": "ma", "status": "self_registered"}, True),
        ("ma + status unregistered", {"last": "ma", "status": "unregistered"}, True),
        ("no match (xqz)", {"last": "xqz"}, True),
        # Not in the list, but things staff do that could be slow:
        ("extra: status pending only", {"status": "pending"}, False),
        ("extra: status self_registered only", {"status": "self_registered"}, False),
        ("extra: first only, 1 letter (a)", {"first": "a"}, False),
    ]


# ---------------------------------------------------------------------------------------------
# Small helpers


# ---------------------------------------------------------------------------------------------
# Data


def sqlite_url(n: int) -> str:
    return f"sqlite:///{harness.output.data / f'search-{n}.sqlite3'}"


def postgres_url(base: str, n: int) -> str:
    """One PostgreSQL database per size (bench_search_10000, ...), so reruns reuse the data."""
    url = make_url(base)
    return url.set(database=f"{url.database}_{n}").render_as_string(hide_password=False)


def prepare_data(database: str, url: str, n: int, seed: int, rebuild: bool) -> tuple[dict, bool]:
    """The generator's report for this database and size, building the data when needed."""
    marker = harness.output.data / (f"search-{n}.sqlite3.json" if database == "sqlite" else f"search-postgresql-{n}.json")
    if not rebuild and marker.exists():
        report = json.loads(marker.read_text())
        if (report.get("n") == n and report.get("seed") == seed and report.get("url") == url
                and report.get("generator_version") == generate.GENERATOR_VERSION and count_rows(url) == n):
            return report, False
    print(f"[{database} {n:,}] generating ...", file=sys.stderr)
    report = generate.build(url, n, seed).__dict__
    report["url"] = url
    harness.output.data.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(report, indent=1, default=str))
    print(f"[{database} {n:,}] generated in {report['seconds_total']:.1f} s (load {report['seconds_load']:.1f} s)", file=sys.stderr)
    return report, True


# ---------------------------------------------------------------------------------------------
# The app, a signed-in client, and instruments


class Timers:
    """Wraps the view's search_patients and audit.record_alone with timers (the view's module
    globals, so the view picks the wrappers up); `audit_enabled = False` turns the audit row
    into a no-op."""

    def __init__(self):
        import blueprints.patient_admin as view

        self.view = view
        self.original_search = view.search_patients
        self.original_audit = view.audit
        self.search_s: list[float] = []
        self.audit_s: list[float] = []
        self.audit_enabled = True

        def timed_search(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.original_search(*args, **kwargs)
            finally:
                self.search_s.append(time.perf_counter() - started)

        def timed_audit(*args, **kwargs):
            if not self.audit_enabled:
                return None
            started = time.perf_counter()
            try:
                return self.original_audit.record_alone(*args, **kwargs)
            finally:
                self.audit_s.append(time.perf_counter() - started)

        view.search_patients = timed_search
        view.audit = SimpleNamespace(**{**vars(self.original_audit), "record_alone": timed_audit})

    def reset(self):
        self.search_s.clear()
        self.audit_s.clear()

    def restore(self):
        self.view.search_patients = self.original_search
        self.view.audit = self.original_audit


@contextmanager
def captured_sql(engine):
    statements: list[tuple[str, object, float]] = []
    starts: dict[int, float] = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        starts[id(cursor)] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters, time.perf_counter() - starts.pop(id(cursor), time.perf_counter())))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def statement_kind(sql: str) -> str:
    s = " ".join(sql.split()).lower()
    if s.startswith("insert into audit_events"):
        return "audit INSERT"
    if s.startswith("update staff_sessions"):
        return "session activity UPDATE"
    if "from staff_sessions" in s:
        return "staff session SELECT"
    if "count(*)" in s and "staff_memberships" in s:
        return "practice count SELECT"
    if "from staff_memberships" in s:
        return "membership SELECT"
    if s.startswith("select") and "from patients" in s and "order by" in s:
        return "search SELECT"
    if "from practices" in s:
        return "practice SELECT"
    if "from staff_users" in s:
        return "staff SELECT"
    return s[:40]


def is_search_sql(sql: str) -> bool:
    return statement_kind(sql) == "search SELECT"


def rows_in(body: str) -> int:
    if "No patients found" in body:
        return 0
    return max(0, body.count("<tr>") - 1)


# ---------------------------------------------------------------------------------------------
# EXPLAIN


def explain(engine, database: str, sql: str, parameters) -> dict:
    raw = engine.raw_connection()
    try:
        if database == "sqlite":
            cursor = raw.cursor()
            cursor.execute("EXPLAIN QUERY PLAN " + sql, parameters)
            rows = cursor.fetchall()
            cursor.close()
            depth = {0: -1}
            lines = []
            for node_id, parent, _unused, detail in rows:
                depth[node_id] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node_id] + detail)
            return {"plan": lines, **summarize_sqlite(lines)}
        import psycopg

        dbapi = raw.driver_connection
        cursor = psycopg.ClientCursor(dbapi)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, parameters)
        lines = [row[0] for row in cursor.fetchall()]
        cursor.close()
        dbapi.rollback()
        result = {"plan": lines, **summarize_postgres(lines)}
        result["prepared"] = explain_prepared(dbapi, sql, parameters)
        return result
    finally:
        raw.close()


def explain_prepared(dbapi, sql: str, parameters: dict) -> dict:
    """The plan PostgreSQL uses once the statement is prepared, as psycopg does on a connection's
    5th execution of the same SQL: PREPARE, 6 EXECUTEs, then EXPLAIN ANALYZE EXECUTE. A generic
    plan (chosen when its estimate is no worse than the custom plans') shows $n in its conditions."""
    import psycopg

    order: dict[str, int] = {}

    def number(match):
        return f"${order.setdefault(match.group(1), len(order) + 1)}"

    converted = re.sub(r"%\((\w+)\)s", number, sql)
    values = [parameters[name] for name, _ in sorted(order.items(), key=lambda item: item[1])]
    placeholders = ", ".join(["%s"] * len(values))
    cursor = psycopg.ClientCursor(dbapi)
    try:
        cursor.execute(f"PREPARE bench_search_q AS {converted}")
        for _ in range(6):
            cursor.execute(f"EXECUTE bench_search_q({placeholders})", values)
            cursor.fetchall()
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_search_q({placeholders})", values)
        lines = [row[0] for row in cursor.fetchall()]
        cursor.execute("DEALLOCATE bench_search_q")
    finally:
        cursor.close()
        dbapi.rollback()
    summary_ = summarize_postgres(lines)
    return {"plan": lines, "generic": any(re.search(r"\$\d", line) for line in lines), **summary_}


def expected_index_column(params: dict) -> str | None:
    """The column a good plan's index condition must use for these criteria."""
    if params.get("last"):
        return "last_name_key"
    if params.get("dob"):
        return "date_of_birth"
    if params.get("first"):
        return "first_name_key"
    return None


def index_verdict(x: dict, params: dict) -> str:
    """yes / partial (what is filtered row by row) / NO, for the summary table."""
    column = expected_index_column(params)
    if not x["uses_index"]:
        return "NO (table scan)"
    if column and column not in x.get("index_condition", ""):
        return f"partial: index on practice_id only, {column} checked row by row"
    if not x["sub_uses_index"]:
        return "patients yes; status subqueries scan their whole tables"
    return "yes"


def summarize_sqlite(lines: list[str]) -> dict:
    main = next((l.strip() for l in lines if re.match(r"\s*(SEARCH|SCAN) patients\b", l)), "")
    subqueries = sorted({
        re.sub(r"\s*\(.*", "", l.strip()) for l in lines
        if re.match(r"\s*(SEARCH|SCAN) (portal_links|registration_credentials)\b", l)
    })
    full_scan = main.startswith("SCAN patients") and "USING" not in main
    index_scan_whole = main.startswith("SCAN patients USING")
    temp_sort = any("USE TEMP B-TREE FOR ORDER BY" in l for l in lines)
    uses_index = "INDEX" in main and not full_scan
    access = main
    if index_scan_whole:
        access += " (whole index, in order)"
    return {
        "access": access,
        "index_condition": main,
        "sort": "temp B-tree" if temp_sort else "index order",
        "subqueries": subqueries,
        "uses_index": uses_index,
        "range_on_index": main.startswith("SEARCH") and "INDEX" in main,
        "sub_uses_index": all("INDEX" in s or "PRIMARY KEY" in s for s in subqueries),
    }


def summarize_postgres(lines: list[str]) -> dict:
    scans = [l.strip().lstrip("-> ").strip() for l in lines if re.search(r"(Scan|Bitmap Heap Scan).* on patients\b", l)]
    main = next((s for s in scans), "")
    subqueries = sorted({
        re.sub(r"\s*\(cost.*", "", l.strip().lstrip("-> ").strip()) for l in lines
        if re.search(r"Scan.* on (portal_links|registration_credentials)\b", l)
    })
    sort = "index order"
    for l in lines:
        if "Incremental Sort" in l:
            sort = "incremental sort"
            break
        if re.search(r"->\s*Sort\b|^Sort\b", l.strip()) or l.strip().startswith("Sort "):
            sort = "sort"
    execution = next((float(m.group(1)) for l in lines if (m := re.search(r"Execution Time: ([\d.]+) ms", l))), None)
    planning = next((float(m.group(1)) for l in lines if (m := re.search(r"Planning Time: ([\d.]+) ms", l))), None)
    buffers = next((l.strip() for l in lines if l.strip().startswith("Buffers:")), "")
    rows_removed = sum(int(m.group(1)) for l in lines if (m := re.search(r"Rows Removed by Filter: (\d+)", l)))
    seq = "Seq Scan on patients" in " ".join(scans)
    # The patients scan's Index Cond (the line after it that starts so).
    condition = ""
    for i, line in enumerate(lines):
        if re.search(r"Index.*Scan.* on (patients|ix_patients\w*)\b", line) or re.search(r"Bitmap Index Scan on ix_patients", line):
            for following in lines[i + 1:i + 4]:
                if "Index Cond" in following:
                    condition += following.strip() + " "
                    break
    return {
        "index_condition": condition,
        "access": re.sub(r"\s*\(cost.*", "", main),
        "sort": sort,
        "subqueries": subqueries,
        "uses_index": bool(main) and not seq,
        "range_on_index": "Index" in main,
        "sub_uses_index": all("Index" in s for s in subqueries),
        "execution_ms": execution,
        "planning_ms": planning,
        "top_buffers": buffers,
        "rows_removed_by_filter": rows_removed,
    }


# ---------------------------------------------------------------------------------------------
# One database at one size


def bench_one(database: str, url: str, n: int, args, report: dict) -> dict:
    from blueprints.extensions import db
    from models import AuditEvent, Patient, utcnow
    from services.patients.patient_search import parse_patient_search, patient_criteria
    from services.patients.portal_status import portal_status_expression, portal_status_filter

    app = make_app(url)
    practice_id = report["searched_practice_id"]
    with app.app_context():
        # A date of birth staff would type: that of the searched practice's first 4-year-old.
        today = date.today()
        dob = db.session.scalar(
            select(Patient.date_of_birth).where(
                Patient.practice_id == practice_id,
                Patient.date_of_birth <= today.replace(year=today.year - 4),
                Patient.date_of_birth > today.replace(year=today.year - 5),
            ).order_by(Patient.id).limit(1)
        )
        db.session.remove()
    queries = query_set(dob)
    result = {
        "database": database, "n": n, "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_before": loadavg(), "requests": args.requests, "warmup": args.warmup,
        "generator": {k: report[k] for k in ("seconds_load", "seconds_total", "counters", "built_at") if k in report},
        "queries": {}, "git": git_state(),
    }
    with app.app_context():
        engine = db.engine
        session = db.session
        # What the searched practice looks like (derived statuses, as staff see them).
        now = utcnow()
        status = portal_status_expression(now).label("s")
        result["practice_statuses"] = {
            s: c for s, c in session.execute(
                select(status, func.count()).select_from(Patient).where(Patient.practice_id == practice_id).group_by(status)
            )
        }
        if database == "postgresql":
            result["server"] = session.scalar(text("SHOW server_version"))
            result["pg_settings"] = {
                name: session.scalar(text(f"SHOW {name}"))
                for name in ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost", "synchronous_commit", "jit")
            }
        else:
            result["sqlite_pragmas"] = {
                name: session.scalar(text(f"PRAGMA {name}")) for name in ("journal_mode", "synchronous", "cache_size", "page_size")
            }
            result["sqlite_analyzed"] = bool(session.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")))
        for label, params, _ in queries:
            criteria = parse_patient_search(params)
            count = select(func.count()).select_from(Patient).where(Patient.practice_id == practice_id)
            count = count.where(*patient_criteria(criteria))
            if criteria.status != "all":
                count = count.where(portal_status_filter(criteria.status, now))
            result["queries"][label] = {"params": params, "matches": session.scalar(count)}
        session.remove()

    # No app context is held around the requests: each request must push its own (a fresh
    # db.session and g, as in production); the engine is used directly.
    with app.app_context():
        engine = db.engine
    client = signed_in_test_client(app, report["staff_username"], report["staff_password"])
    timers = Timers()
    try:
        if True:

            def audit_rows() -> int:
                with engine.connect() as connection:
                    return connection.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "search"))

            for label, params, _ in queries:
                entry = result["queries"][label]
                path = "/patients?" + urlencode(params)
                headers = {"HX-Request": "true"}
                # One request with its SQL captured: what runs, and the search statement to explain.
                with captured_sql(engine) as statements:
                    response = client.get(path, headers=headers)
                body = response.get_data(as_text=True)
                if response.status_code != 200 or 'id="patient-results"' not in body or "<html" in body.lower():
                    raise SystemExit(f"{label}: unexpected response {response.status_code}: {body[:300]}")
                entry["rows_shown"] = rows_in(body)
                entry["fragment_bytes"] = len(response.get_data())
                entry["statements"] = [(statement_kind(s), round(t * 1000, 3)) for s, _p, t in statements]
                search_sql = [(s, p) for s, p, _t in statements if is_search_sql(s)]
                if len(search_sql) != 1:
                    raise SystemExit(f"{label}: expected one search statement, saw {[statement_kind(s) for s, _p, _t in statements]}")
                entry["sql"] = search_sql[0][0]
                entry["explain"] = explain(engine, database, *search_sql[0])

                # In-process, with the audit row (as the product runs).
                for _ in range(args.warmup):
                    client.get(path, headers=headers)
                timers.reset()
                before = audit_rows()
                times = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.get(path, headers=headers)
                    times.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise SystemExit(f"{label}: {response.status_code}")
                entry["audit_rows_per_search"] = (audit_rows() - before) / args.requests
                entry["inprocess"] = summary(times)
                entry["search_call"] = summary(timers.search_s)
                entry["audit_call"] = summary(timers.audit_s)

                # In-process, the audit row skipped.
                timers.audit_enabled = False
                try:
                    for _ in range(max(5, args.warmup // 2)):
                        client.get(path, headers=headers)
                    times = []
                    for _ in range(args.requests):
                        started = time.perf_counter()
                        client.get(path, headers=headers)
                        times.append(time.perf_counter() - started)
                finally:
                    timers.audit_enabled = True
                entry["inprocess_no_audit"] = summary(times)
                print(
                    f"[{database} {n:,}] {label}: in-process p50 {entry['inprocess']['p50']:.2f} p95 {entry['inprocess']['p95']:.2f} ms"
                    f" (search {entry['search_call']['p50']:.2f}, audit {entry['audit_call']['p50']:.2f}; "
                    f"no audit p95 {entry['inprocess_no_audit']['p95']:.2f}); {entry['matches']} match, {entry['rows_shown']} shown",
                    file=sys.stderr,
                )

        # Over HTTP: one persistent connection to a werkzeug server in a thread.
        with http_server(app) as port:
            conn = Http(port)
            status_code, _h, page = conn.request("GET", "/signin")
            form = urlencode({"username": report["staff_username"], "password": report["staff_password"],
                              "csrf_token": csrf_token(page.decode())})
            status_code, h, _ = conn.request("POST", "/signin", body=form)
            if status_code != 302:
                raise SystemExit(f"HTTP sign-in failed: {status_code}")
            for label, params, _ in queries:
                entry = result["queries"][label]
                path = "/patients?" + urlencode(params)
                headers = {"HX-Request": "true"}
                for _ in range(args.warmup):
                    conn.request("GET", path, headers=headers)
                times = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    status_code, _h, data = conn.request("GET", path, headers=headers)
                    times.append(time.perf_counter() - started)
                    if status_code != 200 or b'id="patient-results"' not in data:
                        raise SystemExit(f"{label} over HTTP: {status_code} {data[:200]!r}")
                entry["http"] = summary(times)
                print(f"[{database} {n:,}] {label}: HTTP p50 {entry['http']['p50']:.2f} p95 {entry['http']['p95']:.2f} ms", file=sys.stderr)
            conn.close()
    finally:
        timers.restore()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    result["load_after"] = loadavg()
    return result


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else f"{n:,}"


def fmt(value: float | None) -> str:
    if value is None or value != value:
        return "–"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def render(store: dict) -> str:
    runs = store["runs"]
    databases = [d for d in ("sqlite", "postgresql") if any(r["database"] == d for r in runs.values())]
    sizes = sorted({r["n"] for r in runs.values()})
    label_db = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    any_run = next(iter(runs.values()))
    labels = list(any_run["queries"])
    required = {label for label, _p, req in query_set() if req}
    machine = store["machine"]
    out: list[str] = [START_MARK, "## Search (benchmarks/bench_search.py)", ""]
    out.append("Generated by `make bench` (`benchmarks/bench_search.py`); do not edit by hand between the markers.")
    out.append("")
    out += ["| machine | |", "| --- | --- |"]
    for key, name in (("cores", "CPU cores"), ("cpu", "CPU"), ("memory", "Memory"), ("os", "OS"), ("python", "Python"),
                      ("sqlite", "SQLite (Python's)"), ("postgresql", "PostgreSQL server")):
        out.append(f"| {name} | {machine.get(key) or '–'} |")
    out.append("")
    out += ["| run | date (UTC) | code | load avg before → after (1, 5, 15 min) | R (W warm-up) | data load s (gen + write) |", "| --- | --- | --- | --- | --- | ---: |"]
    for key in sorted(runs, key=lambda k: (databases.index(runs[k]["database"]), runs[k]["n"])):
        r = runs[key]
        gen = r.get("generator", {})
        out.append(
            f"| {label_db[r['database']]} {r['n']:,} | {r['date']} | {r.get('git', '–')} | {r.get('load_before')} → {r.get('load_after')} | "
            f"{r['requests']} ({r['warmup']}) | {fmt(gen.get('seconds_load'))} |"
        )
    out.append("")
    notes = store.get("notes") or []
    for note in notes:
        out.append(f"> {note}")
    if notes:
        out.append("")

    def cell(r, mode):
        e = r["queries"].get(label, {}).get(mode)
        return f"{fmt(e['p50'])} / {fmt(e['p95'])}" if e else "–"

    for mode, title in (("inprocess", "In-process (Flask test client), ms p50 / p95"),
                        ("http", "Over HTTP (werkzeug, one keep-alive connection), ms p50 / p95"),
                        ("inprocess_no_audit", "In-process without the audit row (benchmark monkeypatch), ms p50 / p95")):
        out += [f"### {title}", ""]
        header = "| query | matches (largest) | " + " | ".join(f"{label_db[d]} {size_label(n)}" for d in databases for n in sizes) + " |"
        out += [header, "| --- | ---: | " + " | ".join("---:" for _ in databases for _ in sizes) + " |"]
        for label in labels:
            cells = []
            for d in databases:
                for n in sizes:
                    r = runs.get(f"{d}:{n}")
                    cells.append(cell(r, mode) if r else "–")
            largest = runs.get(f"{databases[0]}:{sizes[-1]}") or any_run
            matches = largest["queries"].get(label, {}).get("matches", "–")
            shown = largest["queries"].get(label, {}).get("rows_shown", "–")
            name = label if label in required else f"*{label}*"
            out.append(f"| {name} | {matches:,} ({shown} shown) | " + " | ".join(cells) + " |" if isinstance(matches, int) else f"| {name} | – | " + " | ".join(cells) + " |")
        out.append("")

    # Targets and growth.
    lo, hi = sizes[0], sizes[-1]
    out += [f"### Targets: p95 ≤ {TARGET_P95_MS:.0f} ms at {hi:,}, growth p95({size_label(hi)}) / p95({size_label(lo)}) ≤ {TARGET_GROWTH}", ""]
    if len(sizes) < 2:
        out += ["Only one size was run: no growth ratio.", ""]
    header = "| query | " + " | ".join(f"{label_db[d]} {m}" for d in databases for m in ("in-process p95 → growth", "HTTP p95 → growth")) + " |"
    out += [header, "| --- | " + " | ".join("---" for _ in databases for _ in range(2)) + " |"]
    misses = []
    for label in labels:
        cells = []
        for d in databases:
            small, large = runs.get(f"{d}:{lo}"), runs.get(f"{d}:{hi}")
            for mode in ("inprocess", "http"):
                if not (small and large and mode in large["queries"].get(label, {})):
                    cells.append("–")
                    continue
                p95 = large["queries"][label][mode]["p95"]
                growth = p95 / small["queries"][label][mode]["p95"] if len(sizes) > 1 else None
                ok = p95 <= TARGET_P95_MS and (growth is None or growth <= TARGET_GROWTH)
                if not ok and label in required:
                    misses.append((d, label, mode, p95, growth))
                cells.append(f"{fmt(p95)} ms → {growth:.2f}× {'✓' if ok else '✗'}" if growth is not None else f"{fmt(p95)} ms {'✓' if ok else '✗'}")
        name = label if label in required else f"*{label}*"
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"{len(misses)} of {len(required) * len(databases) * 2} required (query, database, mode) cells miss a target." if misses else "Every required query meets both targets.")
    out.append("")

    # Where the time goes.
    out += [f"### Where a request's time goes (in-process, {size_label(hi)}, medians in ms)", ""]
    out += ["| query | database | request | search_patients() | audit() (INSERT + COMMIT) | rest (session, template, WSGI) | request without audit | audit rows per search |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label in labels:
        for d in databases:
            r = runs.get(f"{d}:{hi}")
            if not r or label not in r["queries"] or "inprocess" not in r["queries"][label]:
                continue
            e = r["queries"][label]
            total, search, audit = e["inprocess"]["p50"], e["search_call"]["p50"], e["audit_call"]["p50"]
            out.append(
                f"| {label} | {label_db[d]} | {fmt(total)} | {fmt(search)} | {fmt(audit)} | {fmt(total - search - audit)} | "
                f"{fmt(e['inprocess_no_audit']['p50'])} | {e['audit_rows_per_search']:.2f} |"
            )
    out.append("")

    # The statements of one request.
    probe = "last, 2 letters (ma)"
    out += [f"### The SQL statements of one request (`{probe}`, {size_label(hi)}, one request captured, ms each)", ""]
    out += ["| # | " + " | ".join(label_db[d] for d in databases) + " |", "| ---: | " + " | ".join("---" for _ in databases) + " |"]
    lists = [runs.get(f"{d}:{hi}", {}).get("queries", {}).get(probe, {}).get("statements", []) for d in databases]
    for i in range(max((len(x) for x in lists), default=0)):
        out.append(f"| {i + 1} | " + " | ".join(f"{x[i][0]} {fmt(x[i][1])}" if i < len(x) else "" for x in lists) + " |")
    out.append("")
    out.append("Not in the list (no cursor.execute): PostgreSQL's `pool_pre_ping` check at each checkout, the COMMIT after "
               "the audit INSERT, and the pool's ROLLBACK when the request returns its connection.")
    out.append("")

    # EXPLAIN summary.
    out += [f"### EXPLAIN summary at {size_label(hi)} (the search statement as the app ran it)", ""]
    out += ["PostgreSQL rows: first the plan the app gets, planned with the statement's values (a custom plan: the app's "
            "statements are never prepared, because the ROLLBACK with which the pool takes back each request's connection "
            "clears psycopg's prepared-statement cache, psycopg/_preparing.py `_should_discard`); then, after `→ prepared:`, "
            "for comparison, the plan PostgreSQL uses after PREPARE and 6 EXECUTEs (generic, shown with $n, or still custom).", ""]
    out += ["| query | database | patients accessed by | ORDER BY | status subqueries | index? | PG execution ms / rows removed by filter |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for label in labels:
        for d in databases:
            r = runs.get(f"{d}:{hi}")
            if not r or label not in r["queries"] or "explain" not in r["queries"][label]:
                continue
            x = r["queries"][label]["explain"]
            summarize = summarize_sqlite if d == "sqlite" else summarize_postgres
            x = {**x, **summarize(x["plan"])}  # re-read from the stored plan (summaries may improve)
            if x.get("prepared"):
                x["prepared"] = {**x["prepared"], **summarize(x["prepared"]["plan"])}
            subs = "; ".join(x["subqueries"]) or "–"
            pg = f"{fmt(x.get('execution_ms'))} / {x.get('rows_removed_by_filter', 0):,}" if d == "postgresql" else ""
            params = r["queries"][label]["params"]
            index = index_verdict(x, params)
            p = x.get("prepared")
            if p:
                p_index = index_verdict(p, params)
                out.append(
                    f"| {label} | {label_db[d]} | {x['access']} → prepared{' (generic)' if p['generic'] else ' (custom)'}: {p['access']} | "
                    f"{x['sort']} → {p['sort']} | {subs} → {'; '.join(p['subqueries']) or '–'} | {index} → {p_index} | "
                    f"{pg} → {fmt(p.get('execution_ms'))} / {p.get('rows_removed_by_filter', 0):,} |"
                )
            else:
                out.append(f"| {label} | {label_db[d]} | {x['access']} | {x['sort']} | {subs} | {index} | {pg} |")
    out.append("")
    out += ["<details><summary>Full plans at the largest size</summary>", ""]
    for d in databases:
        r = runs.get(f"{d}:{hi}")
        if not r:
            continue
        for label in labels:
            e = r["queries"].get(label)
            if not e or "explain" not in e:
                continue
            out += [f"**{label_db[d]} {hi:,}: {label}** `{urlencode(e['params'])}`", "", "```"]
            out += e["explain"]["plan"]
            out += ["```", ""]
    sample = runs.get(f"{databases[0]}:{hi}")
    if sample:
        status_sql = sample["queries"].get("ma + status pending", {}).get("sql")
        if status_sql:
            out += [f"The SQL of `ma + status pending` ({label_db[databases[0]]}):", "", "```sql", status_sql, "```", ""]
    out += ["</details>", ""]

    # Data.
    out += ["### The data (benchmarks/generate.py)", ""]
    out += ["| size | patients in the searched practice by shown status | credentials | portal users / links | accented or punctuated names |", "| --- | --- | ---: | --- | ---: |"]
    for n in sizes:
        r = next((runs[f"{d}:{n}"] for d in databases if f"{d}:{n}" in runs), None)
        if not r:
            continue
        c = r.get("generator", {}).get("counters", {})
        statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(r.get("practice_statuses", {}).items()))
        out.append(f"| {n:,} | {statuses} | {c.get('credentials', 0):,} | {c.get('portal_users', 0):,} / {c.get('portal_links', 0):,} | {c.get('accented_or_punctuated', 0):,} |")
    out.append("")
    out.append(END_MARK)
    return "\n".join(out)


def write_results(store: dict) -> None:
    section = render(store)
    if RESULTS_MD.exists():
        current = RESULTS_MD.read_text()
    else:
        current = "# Benchmark results\n\nEach benchmark under `benchmarks/` writes its own section here (`make bench`).\n\n"
    if START_MARK in current and END_MARK in current:
        before, rest = current.split(START_MARK, 1)
        after = rest.split(END_MARK, 1)[1]
        updated = before + section + after
    else:
        updated = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS_MD.write_text(updated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="patients in all, comma-separated")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL (database WIPED; name must start with 'bench')")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query and mode")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data even when it could be reused")
    parser.add_argument("--note", action="append", default=[], help="a note printed above the tables (repeatable)")
    parser.add_argument("--render-only", action="store_true", help="rewrite RESULTS.md from results/search.json")
    args = harness.parse_args(parser)
    if args.smoke:
        global RESULTS_JSON, RESULTS_MD
        RESULTS_JSON, RESULTS_MD = harness.output.results / "search.json", harness.results_md()
        args.sizes, args.databases, args.requests, args.warmup = "300", "sqlite", 3, 1
    elif args.results_dir:
        RESULTS_JSON = args.results_dir / "search.json"

    store = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {"runs": {}}
    if args.note:
        store["notes"] = args.note
    if args.render_only:
        if args.note:
            RESULTS_JSON.write_text(json.dumps(store, indent=1, default=str))
        write_results(store)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    pg_version = postgres_reachable(args.postgres) if "postgresql" in databases else None
    if "postgresql" in databases and pg_version is None:
        databases.remove("postgresql")
    store["machine"] = machine_info(pg_version or store.get("machine", {}).get("postgresql"))
    print(f"load average at start: {loadavg()}", file=sys.stderr)
    for database in databases:
        for n in sizes:
            url = sqlite_url(n) if database == "sqlite" else postgres_url(args.postgres, n)
            report, built = prepare_data(database, url, n, args.seed, args.rebuild)
            result = bench_one(database, url, n, args, report)
            result["data_built_this_run"] = built
            store["runs"][f"{database}:{n}"] = result
            RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
            RESULTS_JSON.write_text(json.dumps(store, indent=1, default=str))
            write_results(store)
    print(f"wrote {RESULTS_MD} and {RESULTS_JSON}", file=sys.stderr)


if __name__ == "__main__":
    main()
