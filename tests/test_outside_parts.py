"""A part outside the code (Redis, PostgreSQL, Chromium) missing: skipped on a developer's machine,
saying what is missing; a failure in CI (CI=true), so a green CI run never hides an untested part
(tests/support/outside_parts.py). Checked on a real pytest run in a subprocess, and on the sources:
every skip in tests/ goes through the helper or is one of the listed skips that depend on the
database under test, not on something missing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.network import free_port

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
HELPER = TESTS / "support" / "outside_parts.py"

# Skips that are not about a missing part: a feature of the other database, which the same run
# covers with the test's other parametrisation. Any other skip must go through require_part.
DATABASE_FEATURE_SKIPS = {
    "tests/limits/test_rate_limits.py": 1,
    "tests/patients/test_portal_status_columns.py": 1,
    "tests/patients/test_import.py": 2,
    "tests/patients/test_pages.py": 1,
    "tests/delivery/test_delivery.py": 1,
    "tests/practice/test_audit.py": 1,
    "tests/portal/test_password_reset.py": 1,
    "tests/delivery/test_twilio.py": 1,
}
SKIP_CALL = re.compile(r"pytest\.skip\(|pytest\.mark\.skip|skipif|importorskip|pytest\.xfail")

NEEDS_REDIS = '''
from tests.support.outside_parts import require_redis


def test_needs_redis():
    require_redis()
'''


def run_pytest(tmp_path: Path, ci: str | None, redis_url: str) -> subprocess.CompletedProcess:
    """A one-test pytest run outside this suite (its own empty ini: no conftest, no xdist)."""
    (tmp_path / "test_needs_redis.py").write_text(NEEDS_REDIS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "TEST_REDIS_URL", "PYTEST_XDIST_WORKER")}
    env.update(PYTHONPATH=str(REPO), TEST_REDIS_URL=redis_url)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-p", "no:randomly", "-c", str(tmp_path / "pytest.ini"),
         str(tmp_path / "test_needs_redis.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def closed_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_missing_redis_fails_the_run_saying_why(tmp_path, ci):
    url = closed_redis_url()
    result = run_pytest(tmp_path, ci, url)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed" in output and "skipped" not in output
    assert f"Redis missing: no Redis reachable at {url}" in output
    assert "CI runs every test" in output


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_missing_redis_skips_saying_why(tmp_path, ci):
    url = closed_redis_url()
    result = run_pytest(tmp_path, ci, url)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 skipped" in output and "failed" not in output
    assert f"Redis missing: no Redis reachable at {url}" in output


def test_every_skip_for_a_missing_part_goes_through_the_helper():
    found = {}
    for path in sorted(TESTS.rglob("*.py")):
        if path in (HELPER, Path(__file__).resolve()):
            continue
        count = len(SKIP_CALL.findall(path.read_text()))
        if count:
            found[str(path.relative_to(REPO))] = count
    assert found == DATABASE_FEATURE_SKIPS, (
        "a skip outside tests/support/outside_parts.py: if it is about a missing part (Redis, "
        "PostgreSQL, Chromium, a server), call require_part (or require_redis) instead, so that CI "
        "fails rather than skips; if it depends on the database under test, list it here"
    )
