"""Before and after the search fixes, side by side, from the two result files:

    .venv/bin/python benchmarks/compare_search.py

benchmarks/results/search_before_fixes.json (bench_search.py at commit 977512c, before the fixes)
and benchmarks/results/search.json (the latest bench_search.py run). Writes the section between
the `search_before_after` markers of benchmarks/RESULTS.md. Measures nothing itself.

Both runs took the same requests on data from the same generator and seed. They did not run at
the same hour, so the machine's own speed is shown too: the `no match (xqz)` request does almost
no search work, and the fixes removed statements from it, so its time going *up* measures the
machine, not the change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import bench_search  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
START, END = "<!-- search_before_after:start -->", "<!-- search_before_after:end -->"
SIZES = (10_000, 1_000_000)


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())["runs"]


def cell(runs: dict, database: str, query: str, size: int, mode: str, stat: str = "p95") -> float | None:
    run = runs.get(f"{database}:{size}")
    if not run or query not in run["queries"]:
        return None
    value = run["queries"][query].get(mode)
    return value.get(stat) if isinstance(value, dict) else None


def explain_ms(runs: dict, database: str, query: str) -> float | None:
    run = runs.get(f"{database}:1000000")
    if not run or query not in run["queries"]:
        return None
    return (run["queries"][query].get("explain") or {}).get("execution_ms")


def fmt(value: float | None) -> str:
    return bench_search.fmt(value) if value is not None else "—"


def growth(runs: dict, database: str, query: str, mode: str) -> str:
    small, large = (cell(runs, database, query, n, mode) for n in SIZES)
    if not small or large is None:
        return "—"
    ratio = large / small
    return f"{ratio:.2f}×"


def verdict(p95: float | None, ratio_text: str) -> str:
    if p95 is None or ratio_text == "—":
        return ""
    ratio = float(ratio_text.rstrip("×"))
    return ("✓" if p95 <= bench_search.TARGET_P95_MS else "✗ p95") + ("" if ratio <= bench_search.TARGET_GROWTH else " ✗ growth")


def render(before: dict, after: dict) -> str:
    required = [label for label, _params, is_required in bench_search.query_set() if is_required]
    extra = [label for label, _params, is_required in bench_search.query_set() if not is_required]
    lines = [
        START,
        "## Search: before and after the fixes (benchmarks/compare_search.py)",
        "",
        "Generated from `benchmarks/results/search_before_fixes.json` (commit 977512c) and "
        "`benchmarks/results/search.json` (the run above). In-process (Flask test client) p95 in ms "
        "at 1,000,000 patients, with the growth p95(1M)/p95(10k); then the search statement's own "
        "`EXPLAIN ANALYZE` execution time at 1M. Targets: p95 ≤ 20 ms, growth ≤ 1.5.",
        "",
    ]
    for database in ("postgresql", "sqlite"):
        lines += [
            f"### {'PostgreSQL' if database == 'postgresql' else 'SQLite'}",
            "",
            "| query | p95 1M before | growth before | p95 1M after | growth after | verdict after |"
            + (" EXPLAIN ms before → after |" if database == "postgresql" else ""),
            "| --- | ---: | ---: | ---: | ---: | --- |" + (" ---: |" if database == "postgresql" else ""),
        ]
        for query in required + extra:
            name = query if query in required else f"*{query}*"
            b95, a95 = cell(before, database, query, 1_000_000, "inprocess"), cell(after, database, query, 1_000_000, "inprocess")
            bg, ag = growth(before, database, query, "inprocess"), growth(after, database, query, "inprocess")
            row = f"| {name} | {fmt(b95)} | {bg} | {fmt(a95)} | {ag} | {verdict(a95, ag)} |"
            if database == "postgresql":
                row += f" {fmt(explain_ms(before, database, query))} → {fmt(explain_ms(after, database, query))} |"
            lines.append(row)
        lines.append("")
    lines += [
        "### The machine's own speed at each run",
        "",
        "| request that does no search work: `no match (xqz)`, in-process p50 ms | before | after | after / before |",
        "| --- | ---: | ---: | ---: |",
    ]
    for database in ("sqlite", "postgresql"):
        for size in SIZES:
            b = cell(before, database, "no match (xqz)", size, "inprocess", "p50")
            a = cell(after, database, "no match (xqz)", size, "inprocess", "p50")
            ratio = f"{a / b:.2f}×" if a and b else "—"
            lines.append(f"| {database} {size:,} | {fmt(b)} | {fmt(a)} | {ratio} |")
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    section = render(load("search_before_fixes.json"), load("search.json"))
    text = RESULTS_MD.read_text()
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        marker = "<!-- bench_search:end -->"
        at = text.index(marker) + len(marker) if marker in text else len(text)
        text = text[:at] + "\n\n" + section + "\n" + text[at:]
    RESULTS_MD.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
