"""RESULTS.md again from the recorded figures, measuring nothing:

    .venv/bin/python benchmarks/render_results.py        # every section whose JSON is in results/
    .venv/bin/python benchmarks/render_results.py --smoke  # into a temporary RESULTS.md (a check)

Each benchmark's own `render` turns its JSON (benchmarks/results/<name>.json, written by its last
run) into its section, which replaces the one between its markers in benchmarks/RESULTS.md. The
hand-written sections (the summary, the findings) and those of benchmarks that no longer exist
are left as they are. A missing JSON leaves its section alone.

--smoke renders the committed results/*.json into a RESULTS.md in a temporary folder (or
--results-dir): a benchmark whose renderer no longer reads its recorded figures fails there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import bench_import, bench_issue, bench_load, bench_search, bench_weak_pc, bench_weight, harness  # noqa: E402


def weak_pc_section(result: dict) -> str:
    """As bench_weak_pc.py --render-only does: the summaries and findings are derived first."""
    for rate in result["rates"]:
        rate["summary"] = bench_weak_pc.summarize(rate)
    result["notes"] = bench_weak_pc.findings(result)
    return bench_weak_pc.render(result)


# (JSON name, section markers, section from the JSON), in RESULTS.md's order.
SECTIONS = (
    ("weight", bench_weight.BEGIN, bench_weight.END, bench_weight.render),
    ("search", bench_search.START_MARK, bench_search.END_MARK, bench_search.render),
    ("load", bench_load.START_MARK, bench_load.END_MARK, bench_load.render),
    ("import", bench_import.START_MARK, bench_import.END_MARK, bench_import.render),
    ("issue", bench_issue.START_MARK, bench_issue.END_MARK, bench_issue.render),
    ("weak_pc", bench_weak_pc.START_MARK, bench_weak_pc.END_MARK, weak_pc_section),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args = harness.parse_args(parser)
    source = harness.RESULTS  # the recorded figures, also in a smoke run
    target = harness.results_md()
    if args.smoke:
        shutil.copyfile(REPO / "benchmarks" / "RESULTS.md", target)
    rendered = []
    for name, begin, end, render in SECTIONS:
        path = source / f"{name}.json"
        if not path.exists():
            print(f"{name}: no {path.relative_to(REPO)}, its section is left as it is", file=sys.stderr)
            continue
        harness.replace_section(begin, end, render(json.loads(path.read_text())), target)
        rendered.append(name)
    print(f"wrote {target}: {', '.join(rendered) or 'nothing'}", file=sys.stderr)


if __name__ == "__main__":
    main()
