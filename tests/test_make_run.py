"""`make run` on a fresh checkout says what it is doing before each step (issue 14: pip is quiet,
and the install took a silent minute). The Makefile runs in a scratch folder with stand-ins for
python, pip, npm and flask that only print that they ran, so the steps' order is what the person
at the terminal reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.outside_parts import require_part

REPO = Path(__file__).resolve().parents[1]
HTMX = REPO / "static" / "vendor" / "htmx.min.js"

STUB = """#!/bin/sh
echo "[ran: {name} $*]"
"""
# The stand-in python makes the virtual environment's pip and flask.
PYTHON = """#!/bin/sh
echo "[ran: python $*]"
mkdir -p .venv/bin
for tool in pip flask; do
  printf '#!/bin/sh\\necho "[ran: %s $*]"\\n' "$tool" > .venv/bin/$tool
  chmod +x .venv/bin/$tool
done
touch .venv/bin/python
"""
# The stand-in npm packs the htmx this checkout already verified, as `npm pack` would.
NPM = """#!/bin/sh
echo "[ran: npm $*]"
mkdir -p package/dist && cp "{htmx}" package/dist/htmx.min.js
tar -czf "$(echo "$3" | sed 's/@/-/').tgz" package && rm -rf package
"""


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(body)
    path.chmod(0o755)


def test_make_run_announces_each_step_before_it_runs(tmp_path):
    if shutil.which("make") is None:
        require_part("make", "the test runs the real Makefile")
    if not HTMX.exists():
        require_part("htmx", "static/vendor/htmx.min.js is fetched by `make install` first")
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "requirements.txt").write_text("flask\n")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    _script(stubs, "python", PYTHON)
    _script(stubs, "npm", NPM.format(htmx=HTMX))
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "PYTHON": str(stubs / "python")}
    for inherited in ("MAKEFLAGS", "PORT", "DATABASE_URL"):
        env.pop(inherited, None)
    result = subprocess.run(["make", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    def at(text: str) -> int:
        assert text in out, f"{text!r} not in:\n{out}"
        return out.index(text)

    steps = [
        at("==> Creating the virtual environment .venv/"), at("[ran: python -m venv .venv]"),
        at("==> Installing the Python packages of requirements.txt into .venv/ (about a minute"), at("[ran: pip install"),
        at("==> Fetching htmx"), at("fetched and verified"),
        at("==> Migrating the database"), at("[ran: flask --app app db upgrade]"),
        at("==> Seeding the demo practice"), at("[ran: flask --app app seed-demo]"),
        at("==> Serving: open http://127.0.0.1:5000/"), at("[ran: flask --app app run"),
    ]
    assert steps == sorted(steps), out


def test_the_readme_says_in_its_first_lines_that_the_demo_login_is_a_practice_admin():
    opening = "\n".join((REPO / "README.md").read_text().splitlines()[:12])
    assert "`frontdesk` / `maple-grove-demo`" in opening and "**practice admin**" in opening
