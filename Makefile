# Two entry points for newcomers: `make demo` and `make test`. Both build .venv themselves from the
# lock file (tools/bootstrap.sh: uv when it can, pip when it must; README "Development").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers; `make test WORKERS=0` runs the suite in one process.
WORKERS ?= auto
# Whole-suite runs for test-under-load.
RUNS ?= 3

.PHONY: demo test test-fast test-under-load lint typecheck format bench reliability fuzz scale-check \
	lock lock-check package-check clean api-doc

$(STAMP): pyproject.toml uv.lock requirements-dev.lock tools/bootstrap.sh
	@PYTHON=$(PYTHON) VENV=$(VENV) tools/bootstrap.sh
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bexsync demo

# Everything CI runs: lint, types, then the whole suite (slow tests included) on every core.
test: lint typecheck
	$(BIN)/pytest -q -n $(WORKERS)

# The development loop: the same, less the tests marked slow (CI still runs them).
test-fast: lint typecheck
	$(BIN)/pytest -q -n $(WORKERS) -m "not slow"

# The whole suite RUNS times in a row while busy loops keep every core busy (RELIABILITY.md).
test-under-load: $(STAMP)
	$(BIN)/python -m tests.under_load --runs $(RUNS) -- -q -n $(WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy, configured in pyproject.toml [tool.mypy] (what is not reported yet is named there).
typecheck: $(STAMP)
	$(BIN)/mypy daemon providers bexsync_tui

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# docs/API.md from rpc.discover (tools/api_doc.py); tests/test_api_doc.py fails when it is stale.
api-doc: $(STAMP)
	$(BIN)/python tools/api_doc.py

# Regenerate the lock after a change to pyproject.toml's dependencies (UPGRADE=1: newest allowed
# versions of everything), and its hashed export for the pip fallback.
lock:
	tools/bootstrap.sh lock $(if $(UPGRADE),--upgrade)

# Fails when uv.lock or requirements-dev.lock is stale against pyproject.toml.
lock-check:
	tools/bootstrap.sh lock-check

# Build the wheel and sdist, install the wheel in a clean venv, smoke-test its commands and check
# it holds no tests or test doubles (tests/packaging_check.sh).
package-check:
	tests/packaging_check.sh

# Every benchmark prints its figures and one RESULT line; the summary repeats the RESULT lines.
bench: $(STAMP)
	@log=$$(mktemp); for b in benchmarks/bench_*.py; do echo "== $$b"; \
	  { $(BIN)/python $$b || echo "RESULT $$(basename $$b .py): FAILED (exit $$?)"; } 2>&1 | tee -a $$log; \
	done; echo "== summary (BENCHMARKS.md explains each)"; grep '^RESULT ' $$log; \
	! grep -q -E '^RESULT .*(MISSED|FAILED)' $$log; status=$$?; rm -f $$log; exit $$status

# The fault matrix (RELIABILITY.md): every provider x fault, plus 200 seeded SIGKILLs.
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability.fault_matrix --iterations 3 --kills 200

# Three daemons on one PostgreSQL (started here: initdb + pg_ctl), 300 due periods, a random
# daemon SIGKILLed every few seconds and restarted; one RESULT scale line (RELIABILITY.md).
scale-check: $(STAMP)
	$(BIN)/python -m tests.reliability.failover

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz_report --scale 10

clean:
	rm -rf $(VENV) .tools build dist *.egg-info .pytest_cache
