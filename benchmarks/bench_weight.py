"""Weight (benchmark 5): bytes, raw and gzipped, of the first load of Patient
Administration (HTML + CSS + JS) and of each htmx fragment beside its full page.

    .venv/bin/python benchmarks/bench_weight.py            # prints the table, updates RESULTS.md

A fresh SQLite database in a temporary folder, migrated, with the demo data (`seed-demo`); one
signed-in staff client (Flask's test client). Gzip is Python's at level 6 (what nginx and most
servers use by default) and level 9. Byte counts do not depend on the machine's load.
Targets: first load <= 30 KB gzipped in all; each swap <= 5 KB gzipped.

"as served" is what the app itself sends to a browser that accepts `gzip, deflate, br, zstd`
(Chromium): static files compressed (Flask-Compress, brotli 6) with a year's Cache-Control under
their versioned URL; HTML uncompressed (it carries CSRF tokens and, once, a PIN: see app.py).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import harness  # noqa: E402

BEGIN, END = "<!-- bench_weight -->", "<!-- /bench_weight -->"
HX = {"HX-Request": "true"}
CHROMIUM = {"Accept-Encoding": "gzip, deflate, br, zstd"}


def sizes(body: bytes) -> tuple[int, int, int]:
    return len(body), len(gzip.compress(body, 6)), len(gzip.compress(body, 9))


def main() -> None:
    harness.parse_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    folder = tempfile.mkdtemp(prefix="bench-weight-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/weight.sqlite3"
    os.environ.pop("MAIL_SERVER", None)
    from flask_migrate import upgrade

    from app import create_app
    from blueprints.extensions import db
    from models import Patient

    app = create_app({"SECRET_KEY": "bench-weight", "TESTING": True})
    with app.app_context():
        upgrade()
    runner = app.test_cli_runner()
    output = runner.invoke(args=["seed-demo"]).output
    username, password = re.search(r"username (\S+) / password (\S+)", output).groups()
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/signin", data={"username": username, "password": password, "csrf_token": token}).status_code == 302

    with app.app_context():
        teen = db.session.query(Patient).filter(Patient.last_name == "Núñez", Patient.first_name == "Sofía").first()
        teen_id = teen.id if teen else db.session.query(Patient.id).first()[0]
        # A last-name prefix with at least 25 matches, for a full page of results.
        common = db.session.query(Patient.last_name_norm).group_by(Patient.last_name_norm).order_by(
            db.func.count().desc()
        ).first()[0][:1]

    def served(url: str) -> tuple[int, str, str]:
        response = client.get(url, headers=CHROMIUM)
        sent = (len(response.data), response.headers.get("Content-Encoding", "none"),
                response.headers.get("Cache-Control", "—"))
        response.close()
        return sent

    first_load = client.get("/patients").data
    assets = [a.decode().replace("&amp;", "&") for a in re.findall(rb'(?:href|src)="(/static/[^"]+)"', first_load)]
    rows = [("Patient Administration (HTML)", "full page", *sizes(first_load), *served("/patients"))]
    for asset in assets:
        response = client.get(asset)
        body = response.data
        response.close()
        rows.append((asset.split("?")[0].rsplit("/", 1)[-1], "static", *sizes(body), *served(asset)))
    total = tuple(sum(row[i] for row in rows) for i in (2, 3, 4, 5))

    def pair(name, url, method="GET", data=None):
        call = client.get if method == "GET" else client.post
        kwargs = {"data": {**(data or {}), "csrf_token": token}} if method == "POST" else {}
        fragment = call(url, headers=HX, **kwargs).data
        full = call(url, **kwargs).data if method == "GET" else None
        return name, sizes(fragment), sizes(full) if full is not None else None

    page = client.get("/patients").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    results = client.get(f"/patients?last={common}", headers=HX).get_data(as_text=True)
    shown = results.count(">Select<")
    swaps = [
        pair(f"search results ({shown} rows)", f"/patients?last={common}"),
        pair("Patient Account (portal summary)", f"/patients/{teen_id}"),
        pair("Patient Registration window", f"/patients/{teen_id}/registration"),
    ]
    toggle_url = f"/patients/{teen_id}/registration/form"
    window = client.get(f"/patients/{teen_id}/registration", headers=HX).get_data(as_text=True)
    key = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', window).group(1)
    base = {"method": "pin", "access": "full", "send_by": "email", "idempotency_key": key, "email": "p@example.com"}
    for label, change in (
        ("toggle: Text Message", {"send_by": "text"}),
        ("toggle: Do not send PIN", {"send_by": "none"}),
        ("toggle: Verification Question", {"method": "question"}),
    ):
        swaps.append(pair(label, toggle_url, "POST", {**base, **change}))

    result = {"measured": date.today().isoformat(), "first_load": rows, "total": total, "swaps": swaps}
    harness.write_result("weight", result)
    table = render(result)
    print(table)
    harness.replace_section(BEGIN, END, table)


def render(result: dict) -> str:
    """This benchmark's section of RESULTS.md, from its JSON."""
    rows, total, swaps = result["first_load"], result["total"], result["swaps"]
    lines = [
        BEGIN,
        "## Weight (benchmarks/bench_weight.py)",
        "",
        f"Measured {result['measured']} on the demo data (`seed-demo`), Flask's test client; gzip by "
        "Python at level 6 and 9. Targets: first load <= 30 KB gzipped, each swap <= 5 KB gzipped.",
        "",
        "| first load of Patient Administration | kind | raw (B) | gzip -6 (B) | gzip -9 (B) | as served (B) | encoding | Cache-Control |",
        "|---|---|---:|---:|---:|---:|---|---|",
        *[f"| {name} | {kind} | {raw:,} | {g6:,} | {g9:,} | {sent:,} | {enc} | {cache} |"
          for name, kind, raw, g6, g9, sent, enc, cache in rows],
        f"| **total** | | **{total[0]:,}** | **{total[1]:,}** | **{total[2]:,}** | **{total[3]:,}** | | |",
        "",
        "| swap (htmx fragment) | raw (B) | gzip -6 (B) | its full page raw (B) | full page gzip -6 (B) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, fragment, full in swaps:
        full_cells = f"{full[0]:,} | {full[1]:,}" if full else "— (a POST that only swaps) | —"
        lines.append(f"| {name} | {fragment[0]:,} | {fragment[1]:,} | {full_cells} |")
    lines += ["", END]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
