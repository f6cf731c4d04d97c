"""Benchmarks at a tiny size, so that a change in the product that breaks one fails here
(benchmarks/generate.py once failed on main because nothing ran it). Each runs as a
subprocess, as `make bench` runs it, writing into a temporary folder only."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_generate_builds_a_searchable_database(tmp_path):
    # build() ends with its own check: the app's search finds sample patients by name.
    result = run("benchmarks/generate.py", "--database-url", f"sqlite:///{tmp_path / 'p.sqlite3'}", "-n", "300")
    assert '"n": 300' in result.stdout
