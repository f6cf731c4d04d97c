"""Every benchmark script at a tiny size (`--smoke`), so that a change in the product that
breaks one fails here (benchmarks/generate.py once failed on main because nothing ran it).
Each runs as a subprocess, as `make bench` runs it, writing into a temporary folder only."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
# Imported by the scripts, not run.
MODULES = {"harness.py", "names_us.py"}
SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("*.py") if path.name not in MODULES)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_in_smoke_mode(script, tmp_path):
    result = subprocess.run([sys.executable, f"benchmarks/{script}", "--smoke", "--results-dir", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    written = list(tmp_path.glob("*.json"))
    assert written, f"{script} wrote no JSON into {tmp_path}"
    for path in written:
        assert json.loads(path.read_text()), f"{path.name} is empty"
