"""Every benchmark script at a tiny size (`--smoke`), so that a change in the product that
breaks one fails here (benchmarks/generate.py once failed on main because nothing ran it).
Each runs as a subprocess, as `make bench` runs it, writing into a temporary folder only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.support.app_settings import TEST_DATABASE_URL
from tests.support.chromium import CHROMIUM, SKIP_REASON
from tests.support.outside_parts import require_part, require_redis

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
# Imported by the scripts, not run.
MODULES = {"harness.py", "names_us.py"}
SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("*.py") if path.name not in MODULES)
# The load benchmark's Redis database, flushed by it (the rate-limit tests use another).
LOAD_REDIS = "redis://127.0.0.1:6379/12"

pytestmark = pytest.mark.slow


def extra_arguments(script: str) -> list[str]:
    """What a script needs beyond SQLite: the load benchmark PostgreSQL and Redis, the weak-PC
    benchmark Chromium."""
    if script == "bench_load.py":
        if not TEST_DATABASE_URL:
            require_part("PostgreSQL", "bench_load smoke skipped: it needs PostgreSQL (set TEST_DATABASE_URL)")
        require_redis(LOAD_REDIS)
        # Its own database on the tests' server, named after the tests' one: two worktrees'
        # `make test` never share it.
        url = make_url(TEST_DATABASE_URL)
        database = url.set(database=f"bench_smoke_{url.database}").render_as_string(hide_password=False)
        return ["--postgres", database, "--redis", LOAD_REDIS]
    if script == "bench_weak_pc.py" and not os.path.exists(CHROMIUM):
        require_part("Chromium", SKIP_REASON)
    return []


def recorded_results() -> dict[str, int]:
    """benchmarks/RESULTS.md and results/*.json with their modification times."""
    paths = [BENCHMARKS / "RESULTS.md", *(BENCHMARKS / "results").glob("*.json")]
    return {str(path): path.stat().st_mtime_ns for path in paths if path.exists()}


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_in_smoke_mode(script, tmp_path):
    before = recorded_results()
    command = [sys.executable, f"benchmarks/{script}", "--smoke", "--results-dir", str(tmp_path), *extra_arguments(script)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    if script == "render_results.py":  # measures nothing: RESULTS.md from the recorded JSON
        assert "<!-- bench_search:start -->" in (tmp_path / "RESULTS.md").read_text()
        return
    written = list(tmp_path.glob("*.json"))
    assert written, f"{script} wrote no JSON into {tmp_path}"
    for path in written:
        assert json.loads(path.read_text()), f"{path.name} is empty"
    assert recorded_results() == before, "a smoke run must leave benchmarks/RESULTS.md and results/ alone"
