"""Weak PC: the staff screens in Chromium with its CPU slowed down 6× (CDP
`Emulation.setCPUThrottlingRate`), on a practice with 100k patients behind it.

    .venv/bin/python benchmarks/bench_weak_pc.py                                    # 100k patients, 20 runs, 6×
    .venv/bin/python benchmarks/bench_weak_pc.py --patients 10000 --runs 3 --results-md /tmp/dev-RESULTS.md   # quick
    .venv/bin/python benchmarks/bench_weak_pc.py --render-only       # RESULTS.md again from results/weak_pc.json

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`); Playwright's own
browsers are never downloaded.

What is measured, each W warm-up and R timed times (default 3 and 20), once with the CPU at full
speed (1×) and once slowed down (`--rate`, default 6×), each rate in a fresh browser context:

- Enter: on Patient Administration, `Last name` holds a common last name of the searched practice
  (set without an input event, so no debounced request is pending) and Enter is pressed; from the
  keydown to the new results being in the DOM and painted.
- Text Message: in the open Patient Registration window (a 12-17-year-old patient, so `Send to`
  is there too), a click on `Text Message`; from the click to the re-rendered window's `Cell
  Carrier` being enabled and painted. (Then `Email Address`, timed the same way, goes back.)
- Register Patient: on the Patient Account page, a click on `Register Patient`; from the click to
  the dialog open, visible and painted. (Cancel closes it again.)
- Debounce: `Last name` is emptied and the name typed key by key, the keys leaving 80 ms apart by
  the clock (`--key-gap`), as a person types (not 80 ms after each key's round trip, which on a
  slowed page would stretch the gaps); the time from the last keystroke to the search request
  being sent, and how many requests the typing sent. The delay configured in the page (`hx-trigger` of the search form) is
  read from the DOM.
- Typed then Enter: the name typed 80 ms apart and Enter 80 ms after the last key; Enter to
  painted, and how many requests went out (a pending debounced request must not follow Enter).
- After the whole workflow: CDP `HeapProfiler.collectGarbage`, then `Performance.getMetrics`
  (JS heap used/total, DOM nodes, JS event listeners), against the same after the first page
  load and after the first opening of the window (same document: a leak shows as growth); and
  the bytes the context transferred (Resource Timing `transferSize`).

How it is timed: inside the page, not by Python round trips. An instrument (an init script,
armed by page.evaluate before each action) listens in the capture phase for the keydown or click
and takes its `event.timeStamp` (when Chromium created the input event, so time the event waited
for a busy main thread counts). A MutationObserver watches the document; once the end state is in
the DOM (a new `#patient-results`; a new `#registration-window` whose `Cell Carrier` is enabled;
the dialog `open` and visible), requestAnimationFrame and then a setTimeout(0) stand for
"painted". Clicks are bare CDP mouse events at the control's centre, located beforehand, so that
Playwright's actionability and hit-target checks do not run in the page during the measurement.
htmx's events and the request's PerformanceResourceTiming entry cut the total into consecutive
segments: input waiting, htmx preparing the request, the request (network + Flask; the server is
a separate, unthrottled process), XHR load to htmx:beforeSwap, the swap itself, after the swap to
the end state (for the dialog: htmx's 20 ms settle delay, then showModal in app.js), and DOM to
paint. p50 and p95 are over the R timed runs. A fixed JS loop timed at the context's rate and
unthrottled, at the start and end of each context, shows what throttling plus the machine's load
did to the main thread.

At the slowed rate only, to find where a missed target's time goes:
- one extra run per action recorded as a Chromium performance trace (Browser.start_tracing),
  summed by main-thread event self time between the two marks (`--no-trace` skips it; the traces
  are kept under benchmarks/data/traces/, git-ignored, for Chrome DevTools' Performance panel);
- what-ifs: candidate fixes applied to the live page by the benchmark (the product is unchanged:
  `hx-push-url` removed, `hx-history="false"` on the body, `settle:0ms` on Register Patient, Send
  by handled in the page without a round trip, the old search results emptied before htmx swaps
  the new ones in), each run alternately with the page as it is
  (`--no-what-if` skips them);
- `--profile-runs` runs per action sampled with CDP's Profiler (JS time by function); give
  `--htmx-source` the unminified htmx.js of the same version (`npm pack htmx.org@2.0.11`,
  package/dist/htmx.js) to have htmx's functions named in that profile (served to that context
  only, in place of static/vendor/htmx.min.js).

Data: benchmarks/generate.py builds the SQLite database (10 practices, the searched one holding
10%) under benchmarks/data/, shared with and reused like bench_search.py's (`prepare_data`). The
app is served by werkzeug (threaded, HTTP/1.1 keep-alive) in a child process of this script;
Chromium signs in as the generated practice's staff through the Sign in page.

Output: benchmarks/results/weak_pc.json (every run's figures) and the section between the
`bench_weak_pc` markers of `--results-md` (default benchmarks/RESULTS.md; appended when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import harness  # noqa: E402

RESULTS_JSON = REPO / "benchmarks" / "results" / "weak_pc.json"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
START_MARK = "<!-- bench_weak_pc:start -->"
END_MARK = "<!-- bench_weak_pc:end -->"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}  # a clinic's cheap screen

# Goals (not asserts), in ms, for the slowed-down rate.
TARGETS = {"enter": 250.0, "toggle_text": 150.0, "debounce": 200.0}

TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "blink.user_timing",
    "toplevel",
    "v8.execute",
    "v8",
]

# ---------------------------------------------------------------------------------------------
# The in-page instrument (an init script: in every document of the context, outside the CSP).

INSTRUMENT = r"""
(() => {
  if (window.__wpc) return;
  const W = window.__wpc = {bytes: 0, pending: null};
  try { performance.setResourceTimingBufferSize(100000); } catch (e) {}

  // Adds up the transferred bytes of the resource entries so far, returns them, and clears them.
  W.drain = function () {
    let bytes = 0;
    const entries = performance.getEntriesByType("resource");
    for (const e of entries) bytes += e.transferSize || 0;
    performance.clearResourceTimings();
    W.bytes += bytes;
    return {bytes: bytes, entries: entries.filter((e) => e.initiatorType === "xmlhttprequest").map((e) => ({
      name: e.name.replace(location.origin, ""), startTime: e.startTime, requestStart: e.requestStart,
      responseStart: e.responseStart, responseEnd: e.responseEnd, transferSize: e.transferSize,
      encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize}))};
  };

  W.navigation = function () {
    const nav = performance.getEntriesByType("navigation")[0];
    let resources = 0;
    for (const e of performance.getEntriesByType("resource")) resources += e.transferSize || 0;
    return nav ? {transferSize: nav.transferSize, decodedBodySize: nav.decodedBodySize,
      domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, resourcesTransferSize: resources} : null;
  };

  const CHECKS = {
    // A new results fragment is in the DOM.
    search: (old) => { const el = document.getElementById("patient-results"); return !!el && el !== old.results; },
    // The server's re-rendered Cell Carrier is in (the window, or since the Send by swap was
    // narrowed, the contact fields), enabled (Text Message) or disabled (back).
    toggle_text: (old) => { const s = document.querySelector("#registration-window #carrier");
      return !!s && s !== old.carrier && !s.disabled; },
    toggle_email: (old) => { const s = document.querySelector("#registration-window #carrier");
      return !!s && s !== old.carrier && s.disabled; },
    // The Patient Registration dialog is open and visible.
    dialog: () => { const d = document.getElementById("registration-dialog"); return !!d && d.open && d.checkVisibility(); },
    // What-if (no round trip): Cell Carrier enabled / disabled in whatever window is there.
    carrier_on: () => { const s = document.querySelector("#registration-window #carrier"); return !!s && !s.disabled; },
    carrier_off: () => { const s = document.querySelector("#registration-window #carrier"); return !!s && s.disabled; },
  };

  // A fixed piece of JavaScript: how fast the main thread runs now (throttling and machine load).
  W.calibrate = function () {
    const times = [];
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now();
      let x = 0;
      for (let i = 0; i < 2000000; i++) x = (x * 31 + i) % 1000003;
      times.push(performance.now() - t0);
      if (x < 0) console.log(x);
    }
    times.sort((a, b) => a - b);
    return times[2];
  };

  // What-if, benchmark only: Send by enables its fields in the page, with no round trip (the
  // change never reaches htmx's listener on the fieldset).
  W.clientToggle = function (on) {
    if (W._ct) { document.removeEventListener("change", W._ct, true); W._ct = null; }
    if (!on) return;
    W._ct = function (e) {
      const t = e.target;
      if (!t || t.name !== "send_by") return;
      e.stopPropagation();
      const win = document.getElementById("registration-window");
      const set = (id, enabled, required) => {
        const el = win && win.querySelector("#" + id);
        if (!el) return;
        el.disabled = !enabled;
        if (required) el.required = enabled;
        const field = el.closest(".field");
        if (field) field.classList.toggle("is-disabled", !enabled);
      };
      set("email", t.value === "email", false);
      set("cell", t.value === "text", true);
      set("carrier", t.value === "text", true);
    };
    document.addEventListener("change", W._ct, true);
  };

  // Arms one measurement: o = {check, startEvent: "keydown"|"click", key, target (selector), linger ms, timeout ms}.
  W.arm = function (o) {
    W.drain();
    const r = {requests: [], aborted: 0, afterRequest: 0, keys: [], inputs: []};
    const old = {results: document.getElementById("patient-results"), window: document.getElementById("registration-window"),
                 carrier: document.getElementById("carrier")};
    const check = CHECKS[o.check];
    const listeners = [];
    let mo = null, reached = false, timer = null, resolveP, rejectP;
    const on = (target, type, fn, capture) => { target.addEventListener(type, fn, capture); listeners.push([target, type, fn, capture]); };
    const cleanup = () => { for (const [t, ty, f, c] of listeners) t.removeEventListener(ty, f, c); if (mo) mo.disconnect(); clearTimeout(timer); };
    W.pending = new Promise((res, rej) => { resolveP = res; rejectP = rej; });
    W.pending.catch(() => {});
    timer = setTimeout(() => { cleanup(); rejectP(new Error("timed out waiting for " + o.check + ": " + JSON.stringify(r))); }, o.timeout || 30000);

    on(document, o.startEvent, (e) => {
      if (r.input !== undefined) return;
      if (o.key && e.key !== o.key) return;
      if (o.target && !(e.target && e.target.closest && e.target.closest(o.target))) return;
      r.input = e.timeStamp;
      r.handler = performance.now();
      performance.mark("wpc-start");
    }, true);
    on(document, "keydown", (e) => { if (e.key !== o.key) r.keys.push(e.timeStamp); }, true);
    on(document, "input", () => { r.inputs.push(performance.now()); }, true);
    on(document, "htmx:configRequest", () => { if (r.input !== undefined && r.configRequest === undefined) r.configRequest = performance.now(); });
    on(document, "htmx:beforeSend", (e) => {
      const t = performance.now();
      r.requests.push({at: t, path: (e.detail.requestConfig && e.detail.requestConfig.path) || "", afterInput: r.input !== undefined});
      if (r.input !== undefined && r.send === undefined) r.send = t;
    });
    on(document, "htmx:sendAbort", () => { r.aborted += 1; });
    on(document, "htmx:afterRequest", () => { r.afterRequest += 1; if (r.input !== undefined && r.afterRequestAt === undefined) r.afterRequestAt = performance.now(); });
    on(document, "htmx:beforeSwap", () => { if (r.input !== undefined && r.beforeSwap === undefined) r.beforeSwap = performance.now(); });
    on(document, "htmx:afterSwap", () => { if (r.input !== undefined && r.afterSwap === undefined) r.afterSwap = performance.now(); });
    on(document, "htmx:afterSettle", () => { if (r.input !== undefined && r.afterSettle === undefined) r.afterSettle = performance.now(); });

    const finish = () => {
      cleanup();
      const drained = W.drain();
      r.resources = drained.entries;
      r.bytes = drained.bytes;
      const rows = document.querySelectorAll("#patient-results table tbody tr");
      r.rows = rows.length;
      resolveP(r);
    };
    mo = new MutationObserver(() => {
      if (reached || r.input === undefined || !check(old)) return;
      reached = true;
      r.dom = performance.now();
      mo.disconnect();
      requestAnimationFrame(() => {
        r.raf = performance.now();
        setTimeout(() => {
          r.paint = performance.now();
          performance.mark("wpc-end");
          if (o.linger) setTimeout(finish, o.linger); else finish();
        }, 0);
      });
    });
    mo.observe(document.documentElement, {childList: true, subtree: true, attributes: true, attributeFilter: ["open", "disabled"]});
  };

  // Typing: keystrokes, input events and requests until `quiet` ms pass with nothing in flight.
  W.armTyping = function () {
    W.drain();
    const r = {keys: [], inputs: [], requests: [], settles: [], aborted: 0, afterRequest: 0};
    const listeners = [];
    const on = (target, type, fn, capture) => { target.addEventListener(type, fn, capture); listeners.push([target, type, fn, capture]); };
    on(document, "keydown", (e) => { r.keys.push(e.timeStamp); }, true);
    on(document, "input", () => { r.inputs.push(performance.now()); }, true);
    on(document, "htmx:beforeSend", (e) => { r.requests.push({at: performance.now(), path: (e.detail.requestConfig && e.detail.requestConfig.path) || ""}); });
    on(document, "htmx:sendAbort", () => { r.aborted += 1; });
    on(document, "htmx:afterRequest", () => { r.afterRequest += 1; });
    on(document, "htmx:afterSettle", () => { r.settles.push(performance.now()); });
    W.typing = r;
    W.stopTyping = (quiet) => new Promise((resolve, reject) => {
      const started = performance.now();
      const poll = () => {
        const now = performance.now();
        const last = Math.max(r.keys.length ? r.keys[r.keys.length - 1] : 0, r.settles.length ? r.settles[r.settles.length - 1] : 0,
                              r.requests.length ? r.requests[r.requests.length - 1].at : 0);
        const idle = r.requests.length > 0 && r.afterRequest >= r.requests.length && r.settles.length > 0 && now - last >= quiet;
        if (idle || now - started > 30000) {
          for (const [t, ty, f, c] of listeners) t.removeEventListener(ty, f, c);
          const drained = W.drain();
          r.resources = drained.entries;
          r.bytes = drained.bytes;
          r.timedOut = !idle;
          resolve(r);
        } else setTimeout(poll, 25);
      };
      poll();
    });
  };
})();
"""

# ---------------------------------------------------------------------------------------------
# Helpers


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def stats(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "min": min(values) if values else None,
            "max": max(values) if values else None, "n": len(values)}


def fmt(value) -> str:
    if value is None or value != value:
        return "–"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def mib(value) -> str:
    return "–" if value is None else f"{value / 1024 / 1024:.2f} MiB"


def kib(value) -> str:
    return "–" if value is None else f"{value / 1024:.1f} KiB"


def wait_for_chromium(timeout_s: float = 1800) -> None:
    """Chromium may still be being installed with apt: wait for it (and for dpkg to finish)."""
    started = time.monotonic()
    announced = False
    while True:
        ready = os.path.exists(CHROMIUM)
        if ready:
            try:
                ready = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=60).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ready = False
        if ready:
            return
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"no working Chromium at {CHROMIUM} after {timeout_s:.0f} s (apt-get install chromium)")
        if not announced:
            print(f"waiting for {CHROMIUM} (being installed?) ...", file=sys.stderr)
            announced = True
        time.sleep(10)


# ---------------------------------------------------------------------------------------------
# The server: a child process (unthrottled; its Python does not share the GIL with Playwright's).


def serve(url: str, port: int) -> None:
    import logging

    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a browser expects

        def log_request(self, *args, **kwargs):
            pass

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = harness.make_app(url)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever(poll_interval=0.05)


def start_server(url: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = harness.free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-url", url, "--serve-port", str(port)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        harness.wait_until_serving(process, port, log_path)
    except SystemExit:
        stop_server(process)
        raise
    return process, f"http://127.0.0.1:{port}"


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# ---------------------------------------------------------------------------------------------
# The data: what to search for and whom to register


def pick_subjects(db_path: str, practice_id: int) -> dict:
    """The searched practice's most common last name (a full page of results at 100k), and a
    12-17-year-old patient with an official first name (the window then has `Send to`)."""
    from services.patients.names import is_placeholder_first_name

    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        name, matches = connection.execute(
            "SELECT last_name_norm, count(*) FROM patients WHERE practice_id = ? GROUP BY last_name_norm "
            "ORDER BY count(*) DESC, last_name_norm LIMIT 1", (practice_id,)).fetchone()
        today = date.today()
        oldest = today.replace(year=today.year - 17)
        youngest = today.replace(year=today.year - 13)  # 13 to 17: still 12+ on any day of the run
        candidates = connection.execute(
            "SELECT id, first_name, last_name, date_of_birth, last_name_norm = ? AS same FROM patients "
            "WHERE practice_id = ? AND NOT name_is_unofficial AND guardian_email IS NOT NULL "
            "AND date_of_birth > ? AND date_of_birth <= ? ORDER BY same DESC, id LIMIT 200",
            (name, practice_id, oldest.isoformat(), youngest.isoformat())).fetchall()
    finally:
        connection.close()
    for patient_id, first, last, dob, _same in candidates:
        if not is_placeholder_first_name(first):
            return {"last_name": name, "last_name_matches": matches, "patient_id": patient_id,
                    "patient": f"{last}, {first}", "patient_dob": dob}
    raise SystemExit("no 13-17-year-old patient with an official first name in the searched practice")


# ---------------------------------------------------------------------------------------------
# One browser context at one CPU rate, signed in


class Tab:
    def __init__(self, browser, base: str, rate: float, report: dict, label: str, htmx_source: Path | None = None):
        self.browser, self.base, self.rate, self.label = browser, base, rate, label
        self.context = browser.new_context(viewport=VIEWPORT, locale="en-US")
        self.context.add_init_script(INSTRUMENT)
        if htmx_source:
            body = htmx_source.read_text()
            self.context.route(re.compile(r".*/static/vendor/htmx\.min\.js(\?.*)?$"),
                               lambda route: route.fulfill(body=body, content_type="text/javascript; charset=utf-8"))
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")
        self.throttle()
        page = self.page
        self.transferred = 0
        page.goto(base + "/signin")
        page.wait_for_load_state("load")
        self.signin_load = self._loaded()  # the context's first page: CSS and JS come over the wire here
        self.transferred += self.signin_load.get("resourcesTransferSize") or 0
        page.get_by_label("Username", exact=True).fill(report["staff_username"])
        page.get_by_label("Password", exact=True).fill(report["staff_password"])
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("heading", name="Patient Administration", exact=True, level=1).wait_for()
        page.wait_for_load_state("load")
        self.search_load = self._loaded()

    def throttle(self) -> None:
        self.cdp.send("Emulation.setCPUThrottlingRate", {"rate": self.rate})

    def _loaded(self) -> dict:
        nav = self.page.evaluate("() => window.__wpc.navigation()") or {}
        self.transferred += nav.get("transferSize") or 0
        return nav

    def goto_account(self, patient_id: int) -> dict:
        self.transferred += self.page.evaluate("() => window.__wpc.drain().bytes + window.__wpc.bytes")
        self.page.goto(f"{self.base}/patients/{patient_id}")
        self.page.wait_for_load_state("load")
        self.throttle()  # the session's emulation survives a navigation; set again to be sure
        return self._loaded()

    def calibrate(self) -> dict:
        """A fixed JS loop (ms) at this context's rate and, just before, unthrottled: what the rate and
        the machine's load really do to the main thread at this moment."""
        result = {}
        if self.rate != 1:
            self.cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
            result["1x"] = self.page.evaluate("() => window.__wpc.calibrate()")
            self.throttle()
        result[f"{self.rate:g}x"] = self.page.evaluate("() => window.__wpc.calibrate()")
        return result

    def metrics(self) -> dict:
        self.cdp.send("HeapProfiler.collectGarbage")
        values = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        keep = ("JSHeapUsedSize", "JSHeapTotalSize", "Nodes", "JSEventListeners", "Documents", "Frames", "LayoutCount",
                "RecalcStyleCount", "LayoutDuration", "RecalcStyleDuration", "ScriptDuration", "TaskDuration")
        return {k: values.get(k) for k in keep}

    def close(self) -> None:
        try:
            self.cdp.detach()
        finally:
            self.context.close()


def chromium_cpu_seconds() -> float:
    """CPU seconds used so far by the Chromium processes this script started (its descendants)."""
    parents: dict[int, int] = {}
    comms: dict[int, str] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        pid = int(entry)
        parents[pid], comms[pid] = int(fields[1]), comm
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    me = os.getpid()

    def mine(pid: int) -> bool:
        seen = 0
        while pid in parents and seen < 20:
            pid = parents[pid]
            seen += 1
            if pid == me:
                return True
        return False

    return sum(t for pid, t in times.items() if comms[pid].startswith("chrom") and mine(pid))


def idle_cpu(tab, seconds: float = 3.0) -> dict:
    """Chromium's CPU use (% of one core) with the page idle, unthrottled and at the tab's rate."""
    out = {}
    for rate in (1.0, tab.rate):
        tab.cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
        tab.page.wait_for_timeout(500)
        before, started = chromium_cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        out[f"{rate:g}x"] = 100 * (chromium_cpu_seconds() - before) / (time.monotonic() - started)
    tab.throttle()
    return out


# ---------------------------------------------------------------------------------------------
# The actions, each measured in the page


def center(locator) -> tuple[float, float]:
    """Where to click: found before the measurement, so the click itself is a bare CDP mouse event
    (Playwright's locator click runs its actionability and hit-target checks inside the page, on
    the very main thread being measured)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    if not box:
        raise SystemExit(f"{locator} is not visible")
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def measure(tab: Tab, arm: dict, action, settle_ms: int = 250, profile: bool = False) -> dict:
    page = tab.page
    if profile:
        tab.cdp.send("Profiler.start")
    page.evaluate("(o) => window.__wpc.arm(o)", arm)
    action()
    result = page.evaluate("() => window.__wpc.pending")
    out = derive(result)
    if profile:
        out["profile"] = tab.cdp.send("Profiler.stop")["profile"]
    if settle_ms:
        page.wait_for_timeout(settle_ms)  # htmx settles (20 ms) and pushes history before the next run
    return out


SEGMENTS = [
    ("seg_input", "input event waits for the main thread", "input", "handler"),
    ("seg_prepare", "htmx prepares and sends the request", "handler", "send"),
    ("seg_request", "request (network + Flask, unthrottled)", "send", "responseEnd"),
    ("seg_load", "XHR load → htmx:beforeSwap", "responseEnd", "beforeSwap"),
    ("seg_swap", "swap (htmx:beforeSwap → htmx:afterSwap)", "beforeSwap", "afterSwap"),
    ("seg_after_swap", "after the swap → end state in the DOM", "afterSwap", "dom"),
    ("seg_paint", "DOM → painted", "dom", "paint"),
]


def derive(r: dict) -> dict:
    """Total and consecutive segments of one action (ms), from the instrument's marks."""
    out: dict = {"raw": {k: v for k, v in r.items() if k != "resources"}, "resources": r.get("resources", [])}
    if r.get("input") is None or r.get("paint") is None:
        return out
    out["total"] = r["paint"] - r["input"]
    marks = dict(r)
    ours = [e for e in r.get("resources", []) if r.get("send") is not None and e["startTime"] >= r["send"] - 1]
    if ours:
        e = ours[0]
        marks["responseEnd"] = e["responseEnd"]
        out["request_resource_timing"] = e["responseEnd"] - e["startTime"]
        out["server_ttfb"] = e["responseStart"] - e["requestStart"] if e["requestStart"] else None
        out["fragment_bytes"] = e["decodedBodySize"]
        out["transfer_bytes"] = e["transferSize"]
        out["path"] = e["name"]
    for key, _label, start, end in SEGMENTS:
        if marks.get(start) is not None and marks.get(end) is not None:
            out[key] = marks[end] - marks[start]
    if out.get("seg_request") is not None:
        out["client"] = out["total"] - out["seg_request"]  # the page's own time: everything but the request
    out["requests_after_input"] = sum(1 for q in r.get("requests", []) if q.get("afterInput"))
    out["requests_total"] = len(r.get("requests", []))
    out["aborted"] = r.get("aborted", 0)
    out["rows"] = r.get("rows")
    return out


def set_last_name(page, value: str) -> None:
    """Sets `Last name` without an input event (no debounced request pending) and focuses it."""
    page.evaluate(
        """(v) => { const l = document.getElementById('last'); l.value = v;
                    const f = document.getElementById('first'); if (f) f.value = '';
                    l.focus(); l.setSelectionRange(v.length, v.length); }""", value)


# What-ifs: benchmark-only changes to the live page (the product is unchanged), undone after each run.
WHAT_IF_SETUP = {
    "enter:no_push_url": ("document.getElementById('patient-search').removeAttribute('hx-push-url')",
                          "document.getElementById('patient-search').setAttribute('hx-push-url', 'true')"),
    "enter:hx_history_false": ("document.body.setAttribute('hx-history', 'false')", "document.body.removeAttribute('hx-history')"),
    "enter:clear_before_swap": (
        "window.__wpcClear = (e) => { if (e.detail.target && e.detail.target.id === 'search-results') e.detail.target.replaceChildren(); };"
        " document.addEventListener('htmx:beforeSwap', window.__wpcClear)",
        "document.removeEventListener('htmx:beforeSwap', window.__wpcClear)"),
    "register:settle_0": ("document.getElementById('register-patient').setAttribute('hx-swap', 'innerHTML settle:0ms')",
                          "document.getElementById('register-patient').removeAttribute('hx-swap')"),
    "toggle:client_side": ("window.__wpc.clientToggle(true)", "window.__wpc.clientToggle(false)"),
}
WHAT_IF_SETUP["enter:no_push_url+clear_before_swap"] = tuple(
    "; ".join(WHAT_IF_SETUP[k][i] for k in ("enter:no_push_url", "enter:clear_before_swap")) for i in (0, 1))
WHAT_IF_LABELS = {
    "enter:no_push_url": "`hx-push-url` removed from the search form (no history entry per search)",
    "enter:hx_history_false": "`hx-history=\"false\"` on `<body>` (htmx skips its page snapshot; the URL is still pushed)",
    "enter:clear_before_swap": "the old results emptied on `htmx:beforeSwap` (htmx then has no old rows to clean up, one event pair per element)",
    "enter:no_push_url+clear_before_swap": "both: no `hx-push-url`, old results emptied before the swap",
    "register:settle_0": "`hx-swap=\"innerHTML settle:0ms\"` on `Register Patient` (the dialog opens in the swap's own task)",
    "toggle:client_side": "`Send by` enables its fields in the page (app.js-style listener; no request, no swap)",
}


def variant(tab: Tab, name: str | None, on: bool) -> None:
    if name:
        tab.page.evaluate("() => { " + WHAT_IF_SETUP[name][0 if on else 1] + " }")


def enter_run(tab: Tab, name: str, what_if: str | None = None, profile: bool = False) -> dict:
    set_last_name(tab.page, name)
    variant(tab, what_if, True)
    try:
        return measure(tab, {"check": "search", "startEvent": "keydown", "key": "Enter"},
                       lambda: tab.page.keyboard.press("Enter"), profile=profile)
    finally:
        variant(tab, what_if, False)


def type_at_cadence(page, keys: list[str], gap_ms: int) -> list[float]:
    """Presses the keys `gap_ms` apart by the clock, as a person types. (Playwright's keyboard.type
    waits `delay` after each key's round trip, and the round trip lasts until the renderer has
    handled the key: on a slowed main thread the gaps would stretch to 80 ms + the page's work.)
    Returns how late each key that could not leave on time left (ms): a key leaves only once the
    previous one has been handled."""
    late = []
    start = time.perf_counter()
    for i, key in enumerate(keys):
        wait = start + i * gap_ms / 1000 - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        elif i:
            late.append(-wait * 1000)
        page.keyboard.press(key)
    return late


def typing_run(tab: Tab, name: str, key_gap: int, enter: bool) -> dict:
    page = tab.page
    set_last_name(page, "")
    keys = list(name) + (["Enter"] if enter else [])
    if enter:
        page.evaluate("(o) => window.__wpc.arm(o)", {"check": "search", "startEvent": "keydown", "key": "Enter", "linger": 600})
        late = type_at_cadence(page, keys, key_gap)
        result = derive(page.evaluate("() => window.__wpc.pending"))
        result["keys_late"] = len(late)
        page.wait_for_timeout(250)
        return result
    page.evaluate("() => window.__wpc.armTyping()")
    late = type_at_cadence(page, keys, key_gap)
    r = page.evaluate("(q) => window.__wpc.stopTyping(q)", 600)
    last_key = r["keys"][-1]
    after = [q["at"] for q in r["requests"] if q["at"] >= last_key]
    before = [q["at"] for q in r["requests"] if q["at"] < last_key]
    gaps = [b - a for a, b in zip(r["keys"], r["keys"][1:])]
    page.wait_for_timeout(100)
    return {
        "raw": {k: v for k, v in r.items() if k != "resources"},
        "debounce": (after[0] - last_key) if after else None,
        "debounce_from_input_event": (after[0] - r["inputs"][-1]) if after and r["inputs"] else None,
        "requests": len(r["requests"]),
        "requests_before_last_key": len(before),
        "aborted": r["aborted"],
        "key_gap_mean": sum(gaps) / len(gaps) if gaps else None,
        "key_gap_max": max(gaps) if gaps else None,
        "keys_late": len(late),
        "key_late_max": max(late) if late else 0.0,
        "timed_out": r.get("timedOut"),
    }


def registration_controls(tab: Tab):
    page = tab.page
    return (page.get_by_role("button", name="Register Patient", exact=True),
            page.get_by_role("dialog", name="Patient Registration", exact=True))


def register_run(tab: Tab, close: bool = True, what_if: str | None = None, profile: bool = False) -> dict:
    register, dialog = registration_controls(tab)
    x, y = center(register)
    variant(tab, what_if, True)
    try:
        result = measure(tab, {"check": "dialog", "startEvent": "click", "target": "#register-patient"},
                         lambda: tab.page.mouse.click(x, y), settle_ms=50, profile=profile)
    finally:
        variant(tab, what_if, False)
    if close:
        dialog.get_by_role("button", name="Cancel", exact=True).click()
        dialog.wait_for(state="hidden")
        tab.page.wait_for_timeout(150)
    return result


def toggle_run(tab: Tab, choice: str, what_if: str | None = None, profile: bool = False) -> dict:
    _register, dialog = registration_controls(tab)
    text = choice == "Text Message"
    if what_if:
        check = "carrier_on" if text else "carrier_off"
    else:
        check = "toggle_text" if text else "toggle_email"
    target = "input[type=radio][value=text]" if text else "input[type=radio][value=email]"
    x, y = center(dialog.get_by_role("radio", name=choice, exact=True))
    variant(tab, what_if, True)
    try:
        return measure(tab, {"check": check, "startEvent": "click", "target": target},
                       lambda: tab.page.mouse.click(x, y), settle_ms=150, profile=profile)
    finally:
        variant(tab, what_if, False)


# ---------------------------------------------------------------------------------------------
# Trace analysis: the renderer main thread's time between the input and the paint


SCRIPTING = {"FunctionCall", "EvaluateScript", "EventDispatch", "TimerFire", "XHRLoad", "XHRReadyStateChange",
             "FireAnimationFrame", "RunMicrotasks", "v8.callFunction", "v8.run", "V8.Execute", "v8.compile",
             "v8.compileModule", "V8.CompileCode", "MinorGC", "MajorGC", "BlinkGC.AtomicPhase", "FireIdleCallback",
             "HandlePostMessage", "BlinkScheduler_PerformMicrotaskCheckpoint"}
RENDERING = {"UpdateLayoutTree", "Layout", "RecalculateStyles", "HitTest", "ScheduleStyleRecalculation",
             "InvalidateLayout", "IntersectionObserverController::computeIntersections", "UpdateLayerTree",
             "ComputeIntersections"}
PAINTING = {"Paint", "PrePaint", "Layerize", "UpdateLayer", "CompositeLayers", "Commit", "PaintImage",
            "LocalFrameView::RunPrePaintLifecyclePhase", "LocalFrameView::RunPaintLifecyclePhase"}
PARSING = {"ParseHTML"}


def analyze_trace(trace) -> dict | None:
    events = trace.get("traceEvents", []) if isinstance(trace, dict) else trace
    marks = {e["name"]: e for e in events if e.get("name") in ("wpc-start", "wpc-end") and "ts" in e}
    if "wpc-start" not in marks or "wpc-end" not in marks:
        return None
    pid, tid = marks["wpc-start"]["pid"], marks["wpc-start"]["tid"]
    start, end = marks["wpc-start"]["ts"], marks["wpc-end"]["ts"]
    spans = []
    open_b: dict[str, list] = {}
    for e in events:
        if e.get("pid") != pid or e.get("tid") != tid:
            continue
        ph = e.get("ph")
        if ph == "X" and "dur" in e:
            spans.append((e["ts"], e["dur"], e["name"], e.get("args", {})))
        elif ph == "B":
            open_b.setdefault(e["name"], []).append(e)
        elif ph == "E" and open_b.get(e["name"]):
            b = open_b[e["name"]].pop()
            spans.append((b["ts"], e["ts"] - b["ts"], b["name"], b.get("args", {})))
    spans = [sp for sp in spans if sp[0] + sp[1] > start and sp[0] < end]
    spans.sort(key=lambda sp: (sp[0], -sp[1]))
    self_time: dict[str, float] = {}
    inclusive: dict[str, float] = {}
    busy = 0.0
    stack: list[list] = []  # [end, name, child time, clipped duration]
    for ts, dur, name, args in spans:
        clipped = min(ts + dur, end) - max(ts, start)
        while stack and stack[-1][0] <= ts:
            end_, n_, child, d_ = stack.pop()
            self_time[n_] = self_time.get(n_, 0.0) + max(0.0, d_ - child)
        if stack:
            stack[-1][2] += clipped
        else:
            busy += clipped
        stack.append([ts + dur, name, 0.0, clipped])
        data = args.get("data") or {}
        if name == "EventDispatch":
            key = f"event {data.get('type', '?')}"
            inclusive[key] = inclusive.get(key, 0.0) + clipped
        elif name == "FunctionCall":
            key = f"{data.get('functionName') or '(anonymous)'} ({Path(data.get('url') or '?').name.split('?')[0]})"
            inclusive[key] = inclusive.get(key, 0.0) + clipped
        elif name == "TimerFire":
            inclusive["timer fired"] = inclusive.get("timer fired", 0.0) + clipped
    while stack:
        end_, n_, child, d_ = stack.pop()
        self_time[n_] = self_time.get(n_, 0.0) + max(0.0, d_ - child)
    groups = {"scripting": 0.0, "style_layout": 0.0, "paint_composite": 0.0, "parse_html": 0.0, "other": 0.0}
    for name, t in self_time.items():
        if name in SCRIPTING or name.startswith(("V8.", "v8.", "BlinkGC")):
            groups["scripting"] += t
        elif name in RENDERING:
            groups["style_layout"] += t
        elif name in PAINTING:
            groups["paint_composite"] += t
        elif name in PARSING:
            groups["parse_html"] += t
        else:
            groups["other"] += t

    def ms(v):
        return round(v / 1000, 2)

    return {
        "window_ms": ms(end - start), "main_thread_busy_ms": ms(busy), "main_thread_idle_ms": ms(end - start - busy),
        "groups_ms": {k: ms(v) for k, v in groups.items()},
        "top_self_ms": {k: ms(v) for k, v in sorted(self_time.items(), key=lambda kv: -kv[1])[:15]},
        "top_inclusive_ms": {k: ms(v) for k, v in sorted(inclusive.items(), key=lambda kv: -kv[1])[:12]},
    }


def traced(tab: Tab, label: str, run) -> dict:
    traces = harness.output.data / "traces"
    traces.mkdir(parents=True, exist_ok=True)
    path = traces / f"weak_pc-{label}.json"
    tab.browser.start_tracing(page=tab.page, categories=TRACE_CATEGORIES)
    try:
        result = run()
    finally:
        data = tab.browser.stop_tracing()
    path.write_bytes(data)
    return {"total": result.get("total"), "trace": analyze_trace(json.loads(data)), "trace_file": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)}


# ---------------------------------------------------------------------------------------------
# JS CPU profile (CDP Profiler): where the page's JavaScript spends an action


def profile_functions(profiles: list[dict]) -> dict:
    """Self and inclusive time per function over the given profiles, ms per profile."""
    self_t: dict[str, float] = {}
    incl: dict[str, float] = {}
    for prof in profiles:
        nodes = {node["id"]: node for node in prof["nodes"]}
        parent = {child: node["id"] for node in prof["nodes"] for child in node.get("children", [])}
        keys = {}
        for node_id, node in nodes.items():
            cf = node["callFrame"]
            url = Path(cf.get("url") or "").name.split("?")[0]
            keys[node_id] = f"{cf['functionName'] or '(anonymous)'}" + (f" ({url}:{cf['lineNumber'] + 1})" if url else "")
        for sample, delta in zip(prof.get("samples", []), prof.get("timeDeltas", [])):
            key = keys[sample]
            self_t[key] = self_t.get(key, 0.0) + delta
            seen = set()
            node_id = sample
            while node_id is not None:
                k = keys[node_id]
                if k not in seen:
                    incl[k] = incl.get(k, 0.0) + delta
                    seen.add(k)
                node_id = parent.get(node_id)
    n = max(1, len(profiles))
    skip = {"(root)", "(program)", "(idle)"}
    return {
        "program_ms": self_t.get("(program)", 0.0) / 1000 / n,
        "idle_ms": self_t.get("(idle)", 0.0) / 1000 / n,
        "gc_ms": self_t.get("(garbage collector)", 0.0) / 1000 / n,
        "self_ms": {k: round(v / 1000 / n, 2) for k, v in sorted(self_t.items(), key=lambda kv: -kv[1]) if k not in skip and v / 1000 / n >= 0.2},
        "inclusive_ms": {k: round(v / 1000 / n, 2) for k, v in sorted(incl.items(), key=lambda kv: -kv[1]) if k not in skip and v / 1000 / n >= 0.5},
    }


# ---------------------------------------------------------------------------------------------
# The workflow at one CPU rate


def log(rate: float, what: str, values: list) -> None:
    s = stats(values)
    print(f"[{rate:g}x] {what}: p50 {fmt(s['p50'])} p95 {fmt(s['p95'])} ms (n={s['n']})", file=sys.stderr)


def workflow(browser, base: str, rate: float, subjects: dict, report: dict, args, trace: bool) -> dict:
    tab = Tab(browser, base, rate, report, f"{rate:g}x")
    page = tab.page
    name = subjects["last_name"]
    warmup, runs = args.warmup, args.runs
    out: dict = {"rate": rate, "runs": {}, "traces": {}, "page_load": tab.search_load, "signin_load": tab.signin_load}
    out["calibration_ms"] = [tab.calibrate()]
    out["metrics_start"] = tab.metrics()
    form = page.locator("#patient-search")
    out["configured_trigger"] = form.get_attribute("hx-trigger")
    out["configured_sync"] = form.get_attribute("hx-sync")
    out["configured_push_url"] = form.get_attribute("hx-push-url")

    for label, enter in (("debounce", False), ("typed_enter", True)):
        for _ in range(warmup):
            typing_run(tab, name, args.key_gap, enter)
        out["runs"][label] = [typing_run(tab, name, args.key_gap, enter) for _ in range(runs)]
        log(rate, label, [x.get("total" if enter else "debounce") for x in out["runs"][label]])

    for _ in range(warmup):
        enter_run(tab, name)
    out["runs"]["enter"] = [enter_run(tab, name) for _ in range(runs)]
    log(rate, "enter", [x.get("total") for x in out["runs"]["enter"]])
    if trace:
        out["traces"]["enter"] = traced(tab, f"enter-{rate:g}x", lambda: enter_run(tab, name))

    out["account_load"] = tab.goto_account(subjects["patient_id"])
    register_run(tab)
    out["metrics_account_start"] = tab.metrics()  # the account page after one opening of the window
    for _ in range(warmup):
        register_run(tab)
    out["runs"]["register"] = [register_run(tab) for _ in range(runs)]
    log(rate, "register", [x.get("total") for x in out["runs"]["register"]])
    if trace:
        out["traces"]["register"] = traced(tab, f"register-{rate:g}x", lambda: register_run(tab))

    register_run(tab, close=False)
    _register, dialog = registration_controls(tab)
    if dialog.get_by_role("radio", name="Text Message", exact=True).count() != 1:
        raise SystemExit(f"the Patient Registration window of patient {subjects['patient_id']} has no Text Message choice")
    out["window_has_send_to"] = dialog.get_by_role("group", name="Send to", exact=True).count() == 1
    for _ in range(warmup):
        toggle_run(tab, "Text Message")
        toggle_run(tab, "Email Address")
    out["runs"]["toggle_text"], out["runs"]["toggle_email"] = [], []
    for _ in range(runs):
        out["runs"]["toggle_text"].append(toggle_run(tab, "Text Message"))
        out["runs"]["toggle_email"].append(toggle_run(tab, "Email Address"))
    log(rate, "toggle Text Message", [x.get("total") for x in out["runs"]["toggle_text"]])
    log(rate, "toggle Email Address", [x.get("total") for x in out["runs"]["toggle_email"]])
    if trace:
        out["traces"]["toggle_text"] = traced(tab, f"toggle-text-{rate:g}x", lambda: toggle_run(tab, "Text Message"))
        toggle_run(tab, "Email Address")
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    dialog.wait_for(state="hidden")
    page.wait_for_timeout(300)

    tab.transferred += page.evaluate("() => window.__wpc.drain().bytes + window.__wpc.bytes")
    out["transferred_bytes"] = tab.transferred
    out["metrics_end"] = tab.metrics()
    out["calibration_ms"].append(tab.calibrate())
    if rate != 1:
        out["idle_cpu_percent"] = idle_cpu(tab)
    out["console_errors"] = tab.console_errors
    tab.close()
    return out


def what_ifs(browser, base: str, rate: float, subjects: dict, report: dict, args) -> dict:
    """Each candidate fix beside the page as it is, run for run alternately (ABAB...) in one
    context, so both see the same machine load."""
    tab = Tab(browser, base, rate, report, f"what-if-{rate:g}x")
    name = subjects["last_name"]
    out: dict = {"rate": rate, "calibration_ms": [tab.calibrate()], "pairs": {}}

    def paired(action: str, variants: list[str | None], run) -> None:
        results: dict = {v or "as is": [] for v in variants}
        for i in range(args.warmup + args.runs):
            for v in variants:
                r = run(v)
                if i >= args.warmup:
                    results[v or "as is"].append(r)
        for v, rs in results.items():
            log(rate, f"what-if {action} {v}", [x.get("total") for x in rs])
        out["pairs"][action] = {v: [{k: x.get(k) for k in ("total", *[s[0] for s in SEGMENTS])} for x in rs] for v, rs in results.items()}

    paired("enter", [None, "enter:no_push_url", "enter:hx_history_false", "enter:clear_before_swap",
                     "enter:no_push_url+clear_before_swap"], lambda v: enter_run(tab, name, v))
    tab.goto_account(subjects["patient_id"])
    paired("register", [None, "register:settle_0"], lambda v: register_run(tab, what_if=v))
    register_run(tab, close=False)

    def toggle_pair(v):
        r = toggle_run(tab, "Text Message", v)
        toggle_run(tab, "Email Address", v)
        return r

    paired("toggle_text", [None, "toggle:client_side"], toggle_pair)
    out["calibration_ms"].append(tab.calibrate())
    out["console_errors"] = tab.console_errors
    tab.close()
    return out


def profiles(browser, base: str, rate: float, subjects: dict, report: dict, args) -> dict:
    htmx_source = Path(args.htmx_source) if args.htmx_source else None
    tab = Tab(browser, base, rate, report, f"profile-{rate:g}x", htmx_source=htmx_source)
    tab.cdp.send("Profiler.enable")
    tab.cdp.send("Profiler.setSamplingInterval", {"interval": 100})
    name = subjects["last_name"]
    out: dict = {"rate": rate, "htmx": str(htmx_source) if htmx_source else "static/vendor/htmx.min.js (minified names)", "actions": {}}

    def profiled(action: str, run) -> None:
        for _ in range(args.warmup):
            run(False)
        results = [run(True) for _ in range(args.profile_runs)]
        out["actions"][action] = {"total": stats([r.get("total") for r in results]),
                                  **profile_functions([r["profile"] for r in results if "profile" in r])}
        log(rate, f"profiled {action}", [r.get("total") for r in results])

    profiled("enter", lambda p: enter_run(tab, name, profile=p))
    tab.goto_account(subjects["patient_id"])
    profiled("register", lambda p: register_run(tab, profile=p))
    register_run(tab, close=False)

    def toggle_profiled(p):
        r = toggle_run(tab, "Text Message", profile=p)
        toggle_run(tab, "Email Address")
        return r

    profiled("toggle_text", toggle_profiled)
    tab.close()
    return out


# ---------------------------------------------------------------------------------------------
# Summaries and RESULTS.md

ROWS = [
    ("enter", "Enter in `Last name` → results painted", "total", "enter"),
    ("toggle_text", "Click `Text Message` → `Cell Carrier` enabled, painted", "total", "toggle_text"),
    ("toggle_email", "Click `Email Address` → `Cell Carrier` disabled, painted", "total", None),
    ("register", "Click `Register Patient` → dialog open, painted", "total", None),
    ("debounce", "Typing debounce: last keystroke → search request sent", "debounce", "debounce"),
    ("typed_enter", "Typed, then Enter 80 ms after the last key → results painted", "total", None),
]


def summarize(rate_result: dict) -> dict:
    summary = {}
    for key, _title, field, _target in ROWS:
        runs = rate_result["runs"].get(key, [])
        summary[key] = {field: stats([r.get(field) for r in runs])}
        for seg, *_ in SEGMENTS:
            summary[key][seg] = stats([r.get(seg) for r in runs])
        summary[key]["client"] = stats([r.get("client") for r in runs])
        for extra in ("requests", "requests_after_input", "requests_before_last_key", "aborted", "fragment_bytes", "rows",
                      "server_ttfb", "request_resource_timing", "debounce_from_input_event", "key_gap_mean", "key_gap_max",
                      "keys_late", "key_late_max"):
            values = [r.get(extra) for r in runs if r.get(extra) is not None]
            if values:
                summary[key][extra] = {"min": min(values), "max": max(values), "p50": percentile(values, 50), "p95": percentile(values, 95)}
    return summary


# As tests/browser/conftest.py: Chromium logs every 409/422 answer, and htmx logs a request it
# aborts on purpose (hx-sync replace: a newer search replaces one in flight).
EXPECTED_CONSOLE_ERROR = re.compile(
    r"^Failed to load resource: the server responded with a status of (409|422)\b"
    r"|^htmx:(sendAbort|afterRequest), \[object HTMLDivElement\]$"
)


def unexpected_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if not EXPECTED_CONSOLE_ERROR.match(e)]


def _configured_delay(trigger: str | None) -> float | None:
    match = re.search(r"delay:(\d+)(ms|s)?", trigger or "")
    if not match:
        return None
    return float(match.group(1)) * (1000 if match.group(2) == "s" else 1)


def render(result: dict) -> str:
    m = result["machine"]
    by_rate = {r["rate"]: r for r in result["rates"]}
    slow, fast = max(by_rate), min(by_rate)
    both = (fast, slow) if slow != fast else (fast,)
    sums = {rate: r["summary"] for rate, r in by_rate.items()}
    out = [START_MARK, "## Weak PC (benchmarks/bench_weak_pc.py)", ""]
    out.append(f"Generated by `{result['command']}`; do not edit by hand between the markers. Raw figures: `benchmarks/results/weak_pc.json`.")
    out.append("")
    out += ["| machine and run | |", "| --- | --- |"]
    for key, label in (("cores", "CPU cores"), ("cpu", "CPU"), ("memory", "Memory"), ("os", "OS"), ("python", "Python"),
                       ("chromium", "Chromium (browser.version)"), ("playwright", "Playwright (Python)")):
        out.append(f"| {label} | {m.get(key) or '–'} |")
    out.append(f"| Date (UTC) | {result['date']} |")
    out.append(f"| Code | {result['git']} |")
    out.append(f"| Load average before → after (1, 5, 15 min) | {result['load_before']} → {result['load_after']} |")
    out.append(f"| Data | {result['patients']:,} patients (benchmarks/generate.py), 10 practices, the searched one {result['patients'] // 10:,}; SQLite |")
    s = result["subjects"]
    out.append(f"| Searched | `{s['last_name']}`, the practice's most common last name: {s['last_name_matches']} matches (a page shows 25) |")
    out.append(f"| Registered | patient {s['patient_id']}, born {s['patient_dob']} (12+: `Send to` shown) |")
    out.append(f"| Runs | {result['runs']} timed after {result['warmup']} warm-ups, per action, rate and variant; key gap {result['key_gap']} ms |")
    out.append(f"| Wall time | {result['seconds']:.0f} s |")
    for r in both:
        cal = by_rate[r].get("calibration_ms") or []
        if cal:
            cells = []
            for c in cal:
                slowed = c.get(f"{r:g}x")
                plain = c.get("1x")
                cells.append(f"{fmt(slowed)} ms" + (f" (unthrottled {fmt(plain)} ms: {slowed / plain:.1f}×)" if plain else ""))
            out.append(f"| Main-thread speed check in the {r:g}× context, start / end (a fixed JS loop) | " + " / ".join(cells) + " |")
    idle = by_rate[slow].get("idle_cpu_percent")
    if idle:
        out.append("| Chromium's own CPU use with the page idle (% of one core; the throttling itself costs CPU, which the "
                   "server and everything else on this 2-core machine then lack) | "
                   + ", ".join(f"{k}: {v:.0f}%" for k, v in idle.items()) + " |")
    wi_cal = (result.get("what_ifs") or {}).get("calibration_ms") or []
    if wi_cal:
        out.append("| Main-thread speed check in the what-if context, start / end | " + " / ".join(
            f"{fmt(c.get(f'{slow:g}x'))} ms (unthrottled {fmt(c.get('1x'))} ms)" for c in wi_cal) + " |")
    out.append("")

    out += [f"### p50 / p95 in ms at CPU {' and '.join(f'{r:g}×' for r in both)} (targets apply to {slow:g}×)", ""]
    out += ["| action | " + " | ".join(f"{r:g}× p50 / p95" for r in both) + f" | target | {slow:g}× verdict (p95) | "
            + " | ".join(f"{r:g}× without the request (page only) p50 / p95" for r in both) + " |",
            "| --- | " + " | ".join("---:" for _ in both) + " | ---: | --- | " + " | ".join("---:" for _ in both) + " |"]
    for key, title, field, target_key in ROWS:
        cells = [f"{fmt(sums[r][key][field]['p50'])} / {fmt(sums[r][key][field]['p95'])}" for r in both]
        target = TARGETS.get(target_key) if target_key else None
        p95 = sums[slow][key][field]["p95"]
        verdict = "–" if target is None else ("✓ met" if p95 <= target else f"✗ missed by {p95 - target:.0f} ms")
        client = [f"{fmt(sums[r][key]['client']['p50'])} / {fmt(sums[r][key]['client']['p95'])}" for r in both]
        out.append(f"| {title} | " + " | ".join(cells) + f" | {'≤ ' + fmt(target) if target else '–'} | {verdict} | " + " | ".join(client) + " |")
    trig = by_rate[slow].get("configured_trigger")
    delay = _configured_delay(trig)
    out.append(f"| Typing debounce as configured (`hx-trigger=\"{trig}\"` on the search form, read from the DOM) | "
               + " | ".join(fmt(delay) for _ in both) + f" | ≤ 200 | {'✓ met' if delay is not None and delay <= 200 else '✗'} | "
               + " | ".join("" for _ in both) + " |")
    out.append("")
    out.append("\"Without the request\" subtracts each run's request segment (htmx:beforeSend to the response's last byte): "
               "what the page itself costs, whatever the server and the network add.")
    out.append("")

    out += [f"### Where the time goes: p50 of each consecutive segment, ms ({' → '.join(f'{r:g}×' for r in both)})", ""]
    out += ["| action | " + " | ".join(label for _, label, *_ in SEGMENTS) + " | total |",
            "| --- | " + " | ".join("---:" for _ in SEGMENTS) + " | ---: |"]
    for key, title, field, _ in ROWS:
        if key == "debounce":
            continue
        cells = [" → ".join(fmt(sums[r][key][seg]["p50"]) for r in both) for seg, *_ in SEGMENTS]
        out.append(f"| {title} | " + " | ".join(cells) + " | " + " → ".join(fmt(sums[r][key][field]["p50"]) for r in both) + " |")
    out.append("")
    out.append("Segments are consecutive, from the input event's timestamp to the paint; p50s of segments need not add up to the "
               "p50 total. The request segment is the page's view (htmx:beforeSend to the response's last byte, Resource "
               "Timing); the server behind it runs unthrottled in another process, yet it is slower at the slowed rate "
               "because Chromium's throttling itself keeps a core busy (see Chromium's idle CPU use above) on a 2-core "
               "machine shared with the server. Everything else is the page's main thread, which the rate slows down.")
    out.append("")

    out += ["### Requests, sizes, typing", ""]
    out += ["| | " + " | ".join(f"{r:g}×" for r in both) + " |", "| --- | " + " | ".join("---" for _ in both) + " |"]

    def rng(d):
        return "–" if not d else (f"{d['min']:g}" if d["min"] == d["max"] else f"{d['min']:g}–{d['max']:g}")

    def p5095(d):
        return "–" if not d else f"{fmt(d['p50'])} / {fmt(d['p95'])}"

    out.append("| search requests per typed name (min–max over runs) | " + " | ".join(rng(sums[r]["debounce"].get("requests")) for r in both) + " |")
    out.append("| … of them sent before the last keystroke | " + " | ".join(rng(sums[r]["debounce"].get("requests_before_last_key")) for r in both) + " |")
    out.append("| debounce measured from the last input event's handler, p50 / p95 ms | " + " | ".join(p5095(sums[r]["debounce"].get("debounce_from_input_event")) for r in both) + " |")
    out.append("| gap between keystrokes as the page saw them (keydown timeStamps), p50 / p95 of run means, ms | " + " | ".join(p5095(sums[r]["debounce"].get("key_gap_mean")) for r in both) + " |")
    out.append("| keys that could not leave on time (the previous key still being handled): per run, min–max | " + " | ".join(rng(sums[r]["debounce"].get("keys_late")) for r in both) + " |")
    out.append("| typed then Enter: requests after Enter (600 ms watched) | " + " | ".join(rng(sums[r]["typed_enter"].get("requests_after_input")) for r in both) + " |")
    out.append("| typed then Enter: requests aborted | " + " | ".join(rng(sums[r]["typed_enter"].get("aborted")) for r in both) + " |")
    out.append("| rows shown after Enter | " + " | ".join(rng(sums[r]["enter"].get("rows")) for r in both) + " |")
    for key, label in (("enter", "search results fragment"), ("toggle_text", "window re-rendered by a toggle"), ("register", "window fragment (Register Patient)")):
        out.append(f"| {label}: bytes (decoded) | " + " | ".join(rng(sums[r][key].get("fragment_bytes")) for r in both) + " |")
        out.append(f"| {label}: server time to first byte, p50 / p95 ms | " + " | ".join(p5095(sums[r][key].get("server_ttfb")) for r in both) + " |")
    out.append("")

    out += ["### Page weight and memory (GC forced before each reading)", ""]
    out += ["| | " + " | ".join(f"{r:g}×" for r in both) + " |", "| --- | " + " | ".join("---" for _ in both) + " |"]

    def load_bytes(key):
        def cell(r):
            pl = r.get(key) or {}
            return kib((pl.get("transferSize") or 0) + (pl.get("resourcesTransferSize") or 0))
        return cell

    for label, fn in (
        ("Sign in page, the context's first: document + CSS + JS transferred", load_bytes("signin_load")),
        ("Patient Administration page after it: transferred (CSS and JS from the cache)", load_bytes("page_load")),
        ("Patient Administration page: load event, ms after navigation start", lambda r: fmt((r.get("page_load") or {}).get("load"))),
        ("Patient Account page: load event, ms after navigation start", lambda r: fmt((r.get("account_load") or {}).get("load"))),
        ("bytes transferred by the whole workflow (3 pages, their CSS and JS, every request)", lambda r: kib(r.get("transferred_bytes"))),
        ("JS heap used after the first page load", lambda r: mib(r["metrics_start"]["JSHeapUsedSize"])),
        ("JS heap used after the whole workflow", lambda r: mib(r["metrics_end"]["JSHeapUsedSize"])),
        ("JS heap total (reserved) after the whole workflow", lambda r: mib(r["metrics_end"]["JSHeapTotalSize"])),
        ("Patient Account page, after the first window → after all: JS heap used", lambda r: f"{mib(r['metrics_account_start']['JSHeapUsedSize'])} → {mib(r['metrics_end']['JSHeapUsedSize'])}"),
        ("Patient Account page, after the first window → after all: DOM nodes", lambda r: f"{r['metrics_account_start']['Nodes']:.0f} → {r['metrics_end']['Nodes']:.0f}"),
        ("Patient Account page, after the first window → after all: JS event listeners", lambda r: f"{r['metrics_account_start']['JSEventListeners']:.0f} → {r['metrics_end']['JSEventListeners']:.0f}"),
        ("documents alive at the end", lambda r: f"{r['metrics_end']['Documents']:.0f}"),
        ("console errors during the workflow: unexpected / expected (htmx logging a request it aborted, 409, 422)",
         lambda r: f"{len(unexpected_errors(r.get('console_errors', [])))} / {len(r.get('console_errors', [])) - len(unexpected_errors(r.get('console_errors', [])))}"),
    ):
        out.append(f"| {label} | " + " | ".join(fn(by_rate[r]) for r in both) + " |")
    out.append("")
    n_window = result["runs"] + result["warmup"] + 2
    out.append(f"\"After the first page load\" is the search page after sign-in; \"after the whole workflow\" is the account "
               f"page (a new document) after the window was opened {n_window} times and toggled {2 * n_window} times, then "
               "closed. A leak would show as growth between the account page's two readings (same document).")
    out.append("")

    wi = result.get("what_ifs")
    if wi:
        out += [f"### What-ifs at {wi['rate']:g}× (benchmark-only edits of the live page; the product is unchanged)", ""]
        out.append("Each variant ran alternately with the page as it is (ABAB…, same context, same load). p50 / p95 of the total, ms, "
                   "and the p50 of the segment that changes.")
        out.append("")
        out += ["| action | variant | p50 / p95 | as is, p50 / p95 | median of paired differences (variant faster in) | swap p50 (as is) | after swap p50 (as is) | DOM → paint p50 (as is) |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for action, variants in wi["pairs"].items():
            base_runs = variants.get("as is", [])
            bt = stats([x.get("total") for x in base_runs])
            for v, runs_ in variants.items():
                if v == "as is":
                    continue
                vt = stats([x.get("total") for x in runs_])

                def seg(key, rs=runs_):
                    return f"{fmt(stats([x.get(key) for x in rs])['p50'])} ({fmt(stats([x.get(key) for x in base_runs])['p50'])})"

                diffs = [a.get("total") - b.get("total") for a, b in zip(runs_, base_runs) if a.get("total") is not None and b.get("total") is not None]
                faster = sum(1 for d in diffs if d < 0)
                paired_cell = f"{percentile(diffs, 50):+.0f} ms ({faster}/{len(diffs)})" if diffs else "–"
                out.append(f"| {action} | {WHAT_IF_LABELS.get(v, v)} | {fmt(vt['p50'])} / {fmt(vt['p95'])} | {fmt(bt['p50'])} / {fmt(bt['p95'])} | "
                           f"{paired_cell} | {seg('seg_swap')} | {seg('seg_after_swap')} | {seg('seg_paint')} |")
        out.append("")

    traces = by_rate[slow].get("traces") or {}
    if traces:
        out += [f"### Main thread at {slow:g}× between the input handler and the paint (one traced run per action; Chromium trace, ms)", ""]
        out += ["| action | run total | window | main thread busy | idle (network, timers) | scripting | style + layout | paint + composite | HTML parsing | other (task overhead, IPC) |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for key, t in traces.items():
            tr = t.get("trace")
            if not tr:
                out.append(f"| {key} | {fmt(t.get('total'))} | marks not found | | | | | | | |")
                continue
            g = tr["groups_ms"]
            out.append(f"| {key} | {fmt(t.get('total'))} | {fmt(tr['window_ms'])} | {fmt(tr['main_thread_busy_ms'])} | {fmt(tr['main_thread_idle_ms'])} | "
                       f"{fmt(g['scripting'])} | {fmt(g['style_layout'])} | {fmt(g['paint_composite'])} | {fmt(g['parse_html'])} | {fmt(g['other'])} |")
        out.append("")
        out += ["<details><summary>Largest trace events by self time; events and script entry points by inclusive time</summary>", ""]
        for key, t in traces.items():
            tr = t.get("trace")
            if tr:
                out.append(f"**{key}** (`{t['trace_file']}`, open in Chrome DevTools' Performance panel): "
                           + ", ".join(f"{k} {v:g}" for k, v in tr["top_self_ms"].items()))
                out.append("")
                out.append("inclusive: " + ", ".join(f"{k} {v:g}" for k, v in tr["top_inclusive_ms"].items()))
                out.append("")
        out += ["</details>", ""]

    pr = result.get("profiles")
    if pr:
        out += [f"### JavaScript by function at {pr['rate']:g}× (CDP Profiler, 100 µs sampling, ms per run; htmx: {pr['htmx']})", ""]
        out += ["| action | runs p50 total | non-JS (program) | idle | GC | largest inclusive (JS functions and the browser APIs they call) |",
                "| --- | ---: | ---: | ---: | ---: | --- |"]
        for action, a in pr["actions"].items():
            top = ", ".join(f"`{k}` {v:g}" for k, v in list(a["inclusive_ms"].items())[:16])
            out.append(f"| {action} | {fmt(a['total']['p50'])} | {fmt(a['program_ms'])} | {fmt(a['idle_ms'])} | {fmt(a['gc_ms'])} | {top} |")
        out.append("")
        out.append("The profile spans each whole measured run (arming the instrument to the paint); (program) is the renderer's "
                   "own work outside JavaScript (style, layout, paint, event plumbing), idle includes the wait for the server.")
        out.append("")

    notes = result.get("notes") or []
    if notes:
        out += ["### Findings", ""]
        out += [f"- {n}" for n in notes]
        out.append("")

    out += ["### Method", ""]
    out.append(
        f"Debian's Chromium (headless, `{' '.join(CHROMIUM_ARGS)}`, viewport {VIEWPORT['width']}×{VIEWPORT['height']}) "
        "driven by Playwright's sync API; the app is served by werkzeug (threaded, HTTP/1.1 keep-alive) in a separate "
        "process on loopback, on SQLite holding the generated data, and Chromium signs in as the searched practice's "
        "staff through the Sign in page. Each CPU rate gets a fresh browser context with its own CDP session and "
        f"`Emulation.setCPUThrottlingRate` ({' and '.join(f'{r:g}' for r in both)}) set before the first page load. Every "
        "time is taken inside the page by an instrument added with `add_init_script`: the start is the keydown's or "
        "click's `event.timeStamp` (captured in the capture phase, so time the input waited for a busy main thread "
        "counts); the end is when a MutationObserver first sees the end state in the DOM (a new results fragment; a "
        "re-rendered window whose `Cell Carrier` is enabled; the dialog `open` and visible), then requestAnimationFrame "
        "and a setTimeout(0) to stand for the frame having been painted. Clicks are bare CDP mouse events at the "
        "control's centre (located beforehand), and keys are Playwright keyboard events, so Playwright runs nothing in "
        "the page during a measurement. htmx's events (`htmx:beforeSend`, `htmx:beforeSwap`, `htmx:afterSwap`) and the "
        "request's Resource Timing entry cut each action into consecutive segments. For the debounce, `Last name` is "
        f"emptied and the name typed key by key, the keys leaving {result['key_gap']} ms apart by the clock; the figure runs from the last keydown to "
        f"`htmx:beforeSend` of the request that follows. Each action runs {result['warmup']} times unmeasured, then "
        f"{result['runs']} times measured; p50/p95 by linear interpolation. Heap, DOM nodes and listeners: CDP "
        "`Performance.getMetrics` after `HeapProfiler.collectGarbage`; bytes: Resource Timing `transferSize`. At the "
        "slowed rate, one extra run per action is recorded as a Chromium performance trace (main-thread self time by "
        "event between the two marks), what-if variants run alternately with the page as it is, and a few runs per "
        "action are sampled with CDP's Profiler. Throttling slows the renderer's main thread only; the 2-core machine "
        "was shared with other work (see the load average and the main-thread speed check), which adds noise on top.")
    out.append("")
    out.append(END_MARK)
    return "\n".join(out)


def write_results(section: str, path: Path) -> None:
    if path.exists():
        current = path.read_text()
    else:
        current = "# Benchmark results\n\nEach benchmark under `benchmarks/` writes its own section here (`make bench`).\n\n"
    if START_MARK in current and END_MARK in current:
        before, rest = current.split(START_MARK, 1)
        after = rest.split(END_MARK, 1)[1]
        updated = before + section + after
    else:
        updated = current.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)


def findings(result: dict) -> list[str]:
    """Statements read off the figures; the causes are in the segments, traces, profiles and what-ifs."""
    notes = []
    by_rate = {r["rate"]: r for r in result["rates"]}
    slow = max(by_rate)
    s = by_rate[slow]["summary"]
    for key, title, field, target_key in ROWS:
        if not target_key:
            continue
        p95 = s[key][field]["p95"]
        target = TARGETS[target_key]
        if p95 == p95 and p95 > target:
            parts = ", ".join(f"{label} {fmt(s[key][seg]['p50'])}" for seg, label, *_ in SEGMENTS if s[key][seg]["n"])
            notes.append(f"{title}: p95 {fmt(p95)} ms at {slow:g}× misses ≤ {fmt(target)} ms" + (f" (p50 segments: {parts})." if parts else "."))
    wi = result.get("what_ifs")
    if wi:
        for action, variants in wi["pairs"].items():
            base = stats([x.get("total") for x in variants.get("as is", [])])["p50"]
            for v, rs in variants.items():
                if v != "as is":
                    p50 = stats([x.get("total") for x in rs])["p50"]
                    notes.append(f"What-if {WHAT_IF_LABELS.get(v, v)}: {action} p50 {fmt(base)} → {fmt(p50)} ms at {wi['rate']:g}×.")
    errors = {r: len(unexpected_errors(v.get("console_errors", []))) for r, v in by_rate.items()}
    if any(errors.values()):
        sample = next(e for v in by_rate.values() for e in unexpected_errors(v.get("console_errors", [])))
        notes.append(f"Console errors during the workflow: {errors} (first: {sample[:160]!r}).")
    return notes + list(result.get("extra_notes") or [])


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000, help="patients in all (default 100000)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per action, rate and variant (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured runs first (default 3)")
    parser.add_argument("--rate", type=float, default=6, help="CPU slowdown factor for the weak PC (default 6)")
    parser.add_argument("--key-gap", type=int, default=80, help="ms between keystrokes when typing (default 80)")
    parser.add_argument("--results-md", type=Path, default=RESULTS_MD, help="markdown file whose bench_weak_pc section is rewritten")
    parser.add_argument("--results-json", type=Path, default=RESULTS_JSON)
    parser.add_argument("--no-trace", action="store_true", help="skip the traced run per action")
    parser.add_argument("--no-what-if", action="store_true", help="skip the what-if variants")
    parser.add_argument("--profile-runs", type=int, default=5, help="runs per action sampled with CDP's Profiler (0: none)")
    parser.add_argument("--htmx-source", help="for the profiled runs only: serve this file (the same htmx version, unminified) "
                        "in place of static/vendor/htmx.min.js, so functions have their names")
    parser.add_argument("--note", action="append", default=[], help="a finding to print under the tables (repeatable)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data even when it could be reused")
    parser.add_argument("--render-only", action="store_true", help="rewrite --results-md from --results-json, measuring nothing")
    parser.add_argument("--serve-url", help=argparse.SUPPRESS)
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)
    args = harness.parse_args(parser)
    harness.smoke_paths(args, "weak_pc")
    if args.smoke:
        args.patients, args.runs, args.warmup, args.rate, args.profile_runs = 300, 1, 0, 2, 1
    if args.serve_url:
        serve(args.serve_url, args.serve_port)
        return
    if args.render_only:
        result = json.loads(args.results_json.read_text())
        if args.note:
            result["extra_notes"] = args.note
        for r in result["rates"]:
            r["summary"] = summarize(r)
        result["notes"] = findings(result)
        write_results(render(result), args.results_md)
        print(f"wrote {args.results_md} from {args.results_json}", file=sys.stderr)
        return

    started = time.monotonic()
    from benchmarks.bench_search import prepare_data, sqlite_url
    from benchmarks.harness import git_state, loadavg, machine_info

    wait_for_chromium()
    load_before = loadavg()
    print(f"load average at start: {load_before}", file=sys.stderr)
    url = sqlite_url(args.patients)
    report, built = prepare_data("sqlite", url, args.patients, args.seed, args.rebuild)
    from sqlalchemy import make_url

    subjects = pick_subjects(make_url(url).database, report["searched_practice_id"])
    print(f"searching {subjects['last_name']!r} ({subjects['last_name_matches']} matches); registering patient {subjects['patient_id']}", file=sys.stderr)

    from importlib.metadata import version

    from playwright.sync_api import sync_playwright

    server_log = harness.output.results if args.smoke else Path("/tmp")
    server, base = start_server(url, server_log / f"bench_weak_pc-server-{os.getpid()}.log")
    rates = [1.0] + ([float(args.rate)] if args.rate != 1 else [])
    result = {
        "command": "python benchmarks/bench_weak_pc.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(), "load_before": load_before, "patients": args.patients, "runs": args.runs,
        "warmup": args.warmup, "key_gap": args.key_gap, "subjects": subjects, "data_built_this_run": built,
        "targets_ms": TARGETS, "rates": [], "extra_notes": args.note,
    }
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                machine = machine_info(None)
                machine.pop("postgresql", None)
                machine["chromium"] = browser.version
                machine["playwright"] = version("playwright")
                result["machine"] = machine
                for rate in rates:
                    result["rates"].append(workflow(browser, base, rate, subjects, report, args, trace=not args.no_trace and rate == max(rates)))
                if not args.no_what_if:
                    result["what_ifs"] = what_ifs(browser, base, max(rates), subjects, report, args)
                if args.profile_runs > 0:
                    result["profiles"] = profiles(browser, base, max(rates), subjects, report, args)
            finally:
                browser.close()
    finally:
        stop_server(server)
    result["load_after"] = loadavg()
    result["seconds"] = time.monotonic() - started
    for r in result["rates"]:
        r["summary"] = summarize(r)
    result["notes"] = findings(result)
    args.results_json.parent.mkdir(parents=True, exist_ok=True)
    args.results_json.write_text(json.dumps(result, indent=1, default=str))
    write_results(render(result), args.results_md)
    print(f"wrote {args.results_md} and {args.results_json} in {result['seconds']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
