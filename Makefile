# Two commands do all the set-up on a fresh machine: `make run` and `make test` (README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT
HTMX_VERSION := 2.0.11
HTMX_SHA256 := d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
HTMX := static/vendor/htmx.min.js

.PHONY: run test install htmx clean bench

# Each step says what it is doing first: pip and npm run quietly, and the install takes about a minute.
$(BIN)/python:
	@echo "==> Creating the virtual environment $(VENV)/ ..."
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	@echo "==> Installing the Python packages of requirements.txt into $(VENV)/ (about a minute; pip is quiet) ..."
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed $(HTMX)

# htmx is fetched by version and checked against its sha256; it is never committed.
$(HTMX):
	@echo "==> Fetching htmx $(HTMX_VERSION) with npm and checking its sha256 ..."
	@mkdir -p static/vendor
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && \
	  tar -xzf htmx.org-$(HTMX_VERSION).tgz package/dist/htmx.min.js && \
	  echo "$(HTMX_SHA256)  package/dist/htmx.min.js" | sha256sum --check --quiet && \
	  cp package/dist/htmx.min.js $(CURDIR)/$(HTMX) && rm -rf $$tmp
	@echo "htmx $(HTMX_VERSION) fetched and verified"
htmx: $(HTMX)

run: install
	@echo "==> Migrating the database (SQLite under instance/ unless DATABASE_URL is set) ..."
	$(BIN)/flask --app app db upgrade
	@echo "==> Seeding the demo practice (only on the first start) ..."
	$(BIN)/flask --app app seed-demo
	@echo "==> Serving: open http://127.0.0.1:$(PORT)/ and sign in with the demo staff login above (Ctrl-C stops it)."
	$(BIN)/flask --app app run --host 127.0.0.1 --port $(PORT)

# Two workers (the machines have 2 cores); each gets its own PostgreSQL database, TEST_DATABASE_URL's
# name + _gw0/_gw1, created when missing. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not timing" $(PYTEST_ARGS)
	@# Tests that compare durations run alone, with no other worker competing for the cores
	@# (exit 5: PYTEST_ARGS selected none of them).
	$(BIN)/python -m pytest -m timing $(PYTEST_ARGS) || [ $$? -eq 5 ]

# Benchmarks: figures into benchmarks/RESULTS.md (`make test` runs each only at a tiny size, `--smoke`,
# to catch one broken by a change; benchmarks/render_results.py remakes RESULTS.md from results/).
# `make bench` runs them all (about an hour on 2 cores, most of it building and searching 1M
# patients); each has its own target. Run them on an otherwise idle machine.
# Quick search run: `make bench-search BENCH_SIZES=10000`; SQLite only: BENCH_DATABASES=sqlite.
# PostgreSQL databases whose names start with `bench` are created and WIPED.
BENCH_SIZES ?= 10000,100000,1000000
BENCH_DATABASES ?= sqlite,postgresql
BENCH_POSTGRES ?= postgresql+psycopg://postgres@127.0.0.1:5432/bench_search
BENCH_REQUESTS ?= 200
.PHONY: bench-weight bench-search bench-import bench-issue bench-weak-pc bench-load
bench: bench-weight bench-search bench-import bench-issue bench-weak-pc bench-load
bench-weight: install
	$(BIN)/python benchmarks/bench_weight.py
bench-search: install
	$(BIN)/python benchmarks/bench_search.py --sizes $(BENCH_SIZES) --databases $(BENCH_DATABASES) \
	  --postgres $(BENCH_POSTGRES) --requests $(BENCH_REQUESTS) $(BENCH_ARGS)
bench-import: install
	$(BIN)/python benchmarks/bench_import.py --databases $(BENCH_DATABASES)
bench-issue: install
	$(BIN)/python benchmarks/bench_issue.py --databases $(BENCH_DATABASES)
bench-weak-pc: install
	$(BIN)/python benchmarks/bench_weak_pc.py
bench-load: install
	$(BIN)/python benchmarks/bench_load.py

clean:
	rm -rf $(VENV) static/vendor tests/artifacts .pytest_cache
