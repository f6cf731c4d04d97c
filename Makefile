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

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed $(HTMX)

# htmx is fetched by version and checked against its sha256; it is never committed.
$(HTMX):
	@mkdir -p static/vendor
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && \
	  tar -xzf htmx.org-$(HTMX_VERSION).tgz package/dist/htmx.min.js && \
	  echo "$(HTMX_SHA256)  package/dist/htmx.min.js" | sha256sum --check --quiet && \
	  cp package/dist/htmx.min.js $(CURDIR)/$(HTMX) && rm -rf $$tmp
	@echo "htmx $(HTMX_VERSION) fetched and verified"
htmx: $(HTMX)

run: install
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app seed-demo
	@echo "Open http://127.0.0.1:$(PORT)/ and sign in with the demo staff login above."
	$(BIN)/flask --app app run --host 127.0.0.1 --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks (not part of `make test`): figures into benchmarks/RESULTS.md. Quick mode:
# `make bench BENCH_SIZES=10000`; SQLite only: `make bench BENCH_DATABASES=sqlite`.
# PostgreSQL databases named $(BENCH_POSTGRES)_<size> are created and WIPED (names must start with bench).
BENCH_SIZES ?= 10000,100000,1000000
BENCH_DATABASES ?= sqlite,postgresql
BENCH_POSTGRES ?= postgresql+psycopg://postgres@127.0.0.1:5432/bench_search
BENCH_REQUESTS ?= 200
bench: install
	$(BIN)/python benchmarks/bench_search.py --sizes $(BENCH_SIZES) --databases $(BENCH_DATABASES) \
	  --postgres $(BENCH_POSTGRES) --requests $(BENCH_REQUESTS) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) static/vendor tests/artifacts .pytest_cache
