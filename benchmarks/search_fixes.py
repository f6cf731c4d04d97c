"""Tries the product changes that benchmarks/RESULTS.md proposes for patient search, on the
benchmark databases, without changing the product.

    .venv/bin/python benchmarks/search_fixes.py                       # 1M on SQLite and PostgreSQL
    .venv/bin/python benchmarks/search_fixes.py --size 100000 --databases sqlite

Needs the data benchmarks/bench_search.py built (it is reused, never rebuilt here). For each
search, the SQL the app runs is captured from services.patients.patient_search.search_patients (SQLAlchemy's
`before_cursor_execute`), then timed on one raw connection, R times after 3 warm-ups:

- as the app runs it (baseline);
- with one candidate change applied (an index, statistics, a different query shape, two
  columns): on PostgreSQL inside a transaction that is rolled back afterwards (DDL is
  transactional); on SQLite on a copy of the file, committed, then deleted. The benchmark
  databases are left as they were.

On PostgreSQL each statement is timed twice: unprepared (a custom plan, as a connection's first 5
executions run) and prepared (psycopg's `prepare=True`; PostgreSQL may then use a generic plan,
as it does from the app's 6th execution of the same SQL on a connection).

Writes its table between the `search_fixes` markers of benchmarks/RESULTS.md.

Historical: it tried the candidates on the schema before migration c7a4e1f2b9d0, which adopted
two of them (the status columns, the date-of-birth index); on the current schema its set-up
statements no longer apply. Its section in RESULTS.md is the record of the choice.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import event, make_url, select  # noqa: E402

from benchmarks import bench_search, generate  # noqa: E402

START_MARK = "<!-- search_fixes:start -->"
END_MARK = "<!-- search_fixes:end -->"

# The candidate changes. Each: (name, databases, statements applied inside the transaction).
DOB_NAME_INDEX = (
    "CREATE INDEX ix_patients_practice_dob_name ON patients (practice_id, date_of_birth, last_name_norm, first_name_norm)"
)
# shape: "app" (search_patients' own SQL) or "page_first" (the page of patients chosen in a
# subquery, the status CASE computed for those rows only; see page_first_statement).
TRIALS = [
    ("baseline (as the app runs today)", ("sqlite", "postgresql"), [], "app"),
    ("SQLite statistics: ANALYZE (what `PRAGMA optimize` keeps up to date)", ("sqlite",), ["ANALYZE"], "app"),
    ("index (practice_id, date_of_birth, last_name_norm, first_name_norm) replacing ix_patients_practice_dob",
     ("sqlite", "postgresql"), ["DROP INDEX ix_patients_practice_dob", DOB_NAME_INDEX], "app"),
    ("query shape: page first, status CASE for the page's rows only", ("postgresql",), [], "page_first"),
    ("page first + the (practice_id, date_of_birth, last, first) index", ("postgresql",),
     ["DROP INDEX ix_patients_practice_dob", DOB_NAME_INDEX], "page_first"),
    ("status inputs kept on patients (portal_linked, pin_active_until) + the dob index: no subqueries",
     ("sqlite", "postgresql"), "STATUS_COLUMNS", "columns"),
]

# The denormalised status inputs, filled from the tables they summarise (what the product would
# keep up to date when a link is made and a PIN is issued, used, revoked or locked).
STATUS_COLUMNS = {
    "sqlite": [
        "ALTER TABLE patients ADD COLUMN portal_linked BOOLEAN NOT NULL DEFAULT 0",
        "ALTER TABLE patients ADD COLUMN pin_active_until DATETIME",
    ],
    "postgresql": [
        "ALTER TABLE patients ADD COLUMN portal_linked BOOLEAN NOT NULL DEFAULT false",
        "ALTER TABLE patients ADD COLUMN pin_active_until TIMESTAMP WITHOUT TIME ZONE",
    ],
    "both": [
        "UPDATE patients SET portal_linked = true WHERE id IN (SELECT patient_id FROM portal_links)",
        "UPDATE patients SET pin_active_until = (SELECT max(expires_at) FROM registration_credentials rc"
        " WHERE rc.patient_id = patients.id AND rc.used_at IS NULL AND rc.revoked_at IS NULL AND rc.failed_attempts < 5)"
        " WHERE id IN (SELECT patient_id FROM registration_credentials WHERE used_at IS NULL AND revoked_at IS NULL"
        " AND failed_attempts < 5)",
        "DROP INDEX ix_patients_practice_dob",
        DOB_NAME_INDEX,
    ],
}


def columns_statement(practice_id: int, criteria, now, page_size: int):
    """search_patients' query with the portal status read from two patients columns instead of
    EXISTS subqueries (services.patients.portal_status's rules, unchanged)."""
    from sqlalchemy import Boolean, DateTime, and_, case, column, not_, or_

    from models import Patient
    from services.patients.patient_search import _starts_with

    linked = column("portal_linked", Boolean)
    active_until = column("pin_active_until", DateTime)
    imported = Patient.imported_portal_status
    naive_now = now.replace(tzinfo=None)
    registered = or_(linked.is_(True), imported == "registered")
    # IS NOT NULL keeps the test two-valued: NOT (NULL > now) would drop the row from every filter.
    pending = or_(and_(active_until.is_not(None), active_until > naive_now), imported == "pending")
    self_registered = imported == "self_registered"
    status = case((registered, "registered"), (pending, "pending"), (self_registered, "self_registered"),
                  else_="unregistered").label("portal_status")
    query = select(Patient.__table__, status).where(Patient.practice_id == practice_id)
    if criteria.last:
        query = query.where(_starts_with(Patient.last_name_norm, criteria.last))
    if criteria.first:
        query = query.where(_starts_with(Patient.first_name_norm, criteria.first))
    if criteria.dob:
        query = query.where(Patient.date_of_birth == criteria.dob)
    filters = {
        "registered": registered,
        "pending": and_(not_(registered), pending),
        "self_registered": and_(not_(registered), not_(pending), self_registered),
        "unregistered": and_(not_(registered), not_(pending), not_(self_registered)),
    }
    if criteria.status != "all":
        query = query.where(filters[criteria.status])
    return (
        query.order_by(Patient.last_name_norm, Patient.first_name_norm, Patient.id)
        .offset((criteria.page - 1) * page_size).limit(page_size + 1)
    )


def compiled_sql(app, statement) -> tuple[str, object]:
    """SQL and DBAPI parameters for a statement that cannot run yet (its columns do not exist
    until the trial's DDL): compiled for the app's dialect, values as the driver wants them."""
    from blueprints.extensions import db

    with app.app_context():
        dialect = db.engine.dialect
    compiled = statement.compile(dialect=dialect)
    params = compiled.construct_params()
    for key, value in list(params.items()):
        if dialect.name == "sqlite" and hasattr(value, "hour"):
            params[key] = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        elif dialect.name == "sqlite" and hasattr(value, "isoformat"):
            params[key] = value.isoformat()
    if dialect.name == "sqlite":
        return str(compiled), tuple(params[name] for name in compiled.positiontup)
    return str(compiled), params


def page_first_statement(practice_id: int, criteria, now, page_size: int):
    """search_patients' query with the page chosen first: the same WHERE, ORDER BY, OFFSET and
    LIMIT in a subquery, and the portal-status CASE (its EXISTS subqueries) evaluated only on the
    page's rows outside it. The planner then knows the CASE runs page_size + 1 times."""
    from sqlalchemy.sql.util import ClauseAdapter

    from models import Patient
    from services.patients.patient_search import _starts_with
    from services.patients.portal_status import portal_status_expression, portal_status_filter

    query = select(Patient).where(Patient.practice_id == practice_id)
    if criteria.last:
        query = query.where(_starts_with(Patient.last_name_norm, criteria.last))
    if criteria.first:
        query = query.where(_starts_with(Patient.first_name_norm, criteria.first))
    if criteria.dob:
        query = query.where(Patient.date_of_birth == criteria.dob)
    if criteria.status != "all":
        query = query.where(portal_status_filter(criteria.status, now))
    page = (
        query.order_by(Patient.last_name_norm, Patient.first_name_norm, Patient.id)
        .offset((criteria.page - 1) * page_size).limit(page_size + 1).subquery("page")
    )
    status = ClauseAdapter(page).traverse(portal_status_expression(now)).label("portal_status")
    return select(page, status).order_by(page.c.last_name_norm, page.c.first_name_norm, page.c.id)


def searches(dob: date) -> list[tuple[str, dict]]:
    return [
        ("date of birth", {"dob": dob.isoformat()}),
        ("last, 1 letter (m)", {"last": "m"}),
        ("last, 2 letters (ma)", {"last": "ma"}),
        ("ma + status pending", {"last": "ma", "status": "pending"}),
        ("ma + status self_registered", {"last": "ma", "status": "self_registered"}),
        ("status pending only", {"status": "pending"}),
        ("first only, 1 letter (a)", {"first": "a"}),
    ]


def capture(app, practice_id: int, params: dict, shape: str = "app") -> tuple[str, object]:
    """The SQL and DBAPI parameters search_patients runs for these query-string arguments (or,
    with shape "page_first", those of page_first_statement)."""
    from blueprints.extensions import db
    from models import utcnow
    from services.patients.patient_search import parse_patient_search, search_patients

    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", before)
        try:
            criteria = parse_patient_search(params)
            if shape == "page_first":
                db.session.execute(page_first_statement(practice_id, criteria, utcnow(), app.config["SEARCH_PAGE_SIZE"])).all()
            else:
                search_patients(db.session, practice_id, criteria, utcnow(), app.config["SEARCH_PAGE_SIZE"])
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
            db.session.remove()
    (found,) = [(s, p) for s, p in seen if bench_search.is_search_sql(s)]
    return found


def time_statement(run, runs: int) -> dict:
    for _ in range(3):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return bench_search.summary(times)


def trial_sqlite(path: str, statements: list[str], cases, runs: int) -> dict:
    """On a copy of the database file, the changes committed (inside a still-open transaction,
    SQLite reads rewritten pages back from its spill area, which would distort the timings)."""
    import shutil

    copy = Path(path).with_name(Path(path).stem + "-trial.sqlite3")
    if statements:
        shutil.copyfile(path, copy)
        path = str(copy)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    results = {}
    try:
        started = time.perf_counter()
        if statements:
            connection.execute("BEGIN")
            for ddl in statements:
                connection.execute(ddl)
            connection.execute("COMMIT")
        results["_setup_s"] = time.perf_counter() - started
        connection.execute("BEGIN")
        for label, (sql, params) in cases.items():
            plan = [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, params)]
            results[label] = {
                "plan": plan,
                "ids": [row[0] for row in connection.execute(sql, params).fetchall()],
                "time": time_statement(lambda: connection.execute(sql, params).fetchall(), runs),
            }
    finally:
        connection.execute("ROLLBACK")
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return results


def trial_postgres(url: str, statements: list[str], cases, runs: int) -> dict:
    import psycopg

    u = make_url(url)
    connection = psycopg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username,
                                 password=u.password, dbname=u.database)
    results = {}
    try:
        with connection.cursor() as cursor:
            started = time.perf_counter()
            for ddl in statements:
                cursor.execute(ddl)
            if statements:
                cursor.execute("ANALYZE patients")
            results["_setup_s"] = time.perf_counter() - started
            for label, (sql, params) in cases.items():
                client = psycopg.ClientCursor(connection)
                client.execute("EXPLAIN " + sql, params)
                plan = [row[0] for row in client.fetchall()]
                client.close()

                def unprepared():
                    cursor.execute(sql, params, prepare=False)
                    cursor.fetchall()

                def prepared():
                    cursor.execute(sql, params, prepare=True)
                    cursor.fetchall()

                cursor.execute(sql, params)
                results[label] = {
                    "plan": plan,
                    "ids": [row[0] for row in cursor.fetchall()],
                    "time": time_statement(unprepared, runs),
                    "time_prepared": time_statement(prepared, runs),
                }
    finally:
        connection.rollback()
        connection.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=bench_search.DEFAULT_POSTGRES)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    from blueprints.extensions import db
    from models import Patient

    out = [START_MARK, f"## Search: candidate fixes tried (benchmarks/search_fixes.py, {args.size:,} patients)", ""]
    out.append(
        "Each candidate is applied to the benchmark database (PostgreSQL: in a transaction rolled back afterwards; SQLite: "
        "on a copy of the file), timed, and undone; the product is unchanged. Every candidate returns the same patients, in "
        "the same order, as the baseline (checked; a difference would be marked DIFFERENT ROWS). Times are the search statement alone on one connection (no HTTP, no ORM, no audit row), "
        f"p50 / p95 ms over {args.runs} runs. PostgreSQL: unprepared (custom plan) | prepared (plan cache)."
    )
    out.append("")
    for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
        url = bench_search.sqlite_url(args.size) if database == "sqlite" else bench_search.postgres_url(args.postgres, args.size)
        if bench_search._count_patients(url) != args.size:
            print(f"{database}: no {args.size:,}-patient data; run benchmarks/bench_search.py --sizes {args.size} first", file=sys.stderr)
            continue
        app = bench_search.make_app(url)
        with app.app_context():
            practice_id = db.session.scalar(select(Patient.practice_id).order_by(Patient.practice_id).limit(1))
            today = date.today()
            dob = db.session.scalar(
                select(Patient.date_of_birth).where(
                    Patient.practice_id == practice_id,
                    Patient.date_of_birth <= today.replace(year=today.year - 4),
                    Patient.date_of_birth > today.replace(year=today.year - 5),
                ).order_by(Patient.id).limit(1)
            )
            db.session.remove()
        from models import utcnow
        from services.patients.patient_search import parse_patient_search

        shapes = {
            shape: {label: capture(app, practice_id, params, shape) for label, params in searches(dob)}
            for shape in ("app", "page_first")
        }
        shapes["columns"] = {
            label: compiled_sql(app, columns_statement(practice_id, parse_patient_search(params), utcnow(),
                                                       app.config["SEARCH_PAGE_SIZE"]))
            for label, params in searches(dob)
        }
        cases = shapes["app"]
        with app.app_context():
            db.engine.dispose()
        rows = {}
        for name, applies, statements, shape in TRIALS:
            if database not in applies:
                continue
            print(f"[{database}] {name} ...", file=sys.stderr)
            cases = shapes[shape]
            if statements == "STATUS_COLUMNS":
                statements = STATUS_COLUMNS[database] + STATUS_COLUMNS["both"]
            if database == "sqlite":
                rows[name] = trial_sqlite(make_url(url).database, statements, cases, args.runs)
            else:
                rows[name] = trial_postgres(url, statements, cases, args.runs)
        label_db = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[database]
        out += [f"### {label_db}", ""]
        out += ["| search | " + " | ".join(rows) + " |", "| --- | " + " | ".join("---" for _ in rows) + " |"]
        for label in cases:
            cells = []
            baseline_ids = next(iter(rows.values()))[label]["ids"]
            for name, result in rows.items():
                r = result[label]
                t = f"{bench_search.fmt(r['time']['p50'])} / {bench_search.fmt(r['time']['p95'])}"
                if r["ids"] != baseline_ids:
                    t += " (DIFFERENT ROWS)"
                if "time_prepared" in r:
                    t += f" \\| {bench_search.fmt(r['time_prepared']['p50'])} / {bench_search.fmt(r['time_prepared']['p95'])}"
                cells.append(t)
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
        out.append("Plans (the patients access path) per trial:")
        out.append("")
        for name, result in rows.items():
            out.append(f"- {name} (set-up {result['_setup_s']:.1f} s):")
            for label in cases:
                plan = result[label]["plan"]
                main = next((p.strip().lstrip("-> ").strip() for p in plan if re.search(r"(SEARCH|SCAN) patients|on patients|Bitmap Index Scan", p)), plan[0] if plan else "")
                sort = " + sort" if any("TEMP B-TREE" in p or re.search(r"\bSort\b", p) for p in plan) else ""
                hashed = " + whole-table subplans" if any("Seq Scan on portal_links" in p or "Seq Scan on registration_credentials" in p for p in plan) else ""
                out.append(f"  - {label}: `{re.sub(r'  +', ' ', re.sub(r'[(]cost=.*', '', main)).strip()}`{sort}{hashed}")
        out.append("")
        print("\n".join(out[-(len(cases) + 4):]), file=sys.stderr)
    out.append(END_MARK)
    section = "\n".join(out)
    current = bench_search.RESULTS_MD.read_text() if bench_search.RESULTS_MD.exists() else "# Benchmark results\n\n"
    if START_MARK in current and END_MARK in current:
        before, rest = current.split(START_MARK, 1)
        current = before + section + rest.split(END_MARK, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    bench_search.RESULTS_MD.write_text(current)
    print(f"wrote {bench_search.RESULTS_MD.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
