# Two entry points for newcomers: `make demo` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format typecheck bench reliability fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bexsync demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy, configured in pyproject.toml [tool.mypy]: daemon/ now; providers/ and bexsync_tui/ join
# as their helpers make them clean (then: $(BIN)/mypy daemon providers bexsync_tui).
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark prints its figures and one RESULT line; the summary repeats the RESULT lines.
bench: $(STAMP)
	@log=$$(mktemp); for b in benchmarks/bench_*.py; do echo "== $$b"; \
	  { $(BIN)/python $$b || echo "RESULT $$(basename $$b .py): FAILED (exit $$?)"; } 2>&1 | tee -a $$log; \
	done; echo "== summary (BENCHMARKS.md explains each)"; grep '^RESULT ' $$log; \
	! grep -q -E '^RESULT .*(MISSED|FAILED)' $$log; status=$$?; rm -f $$log; exit $$status

# The fault matrix (RELIABILITY.md): every provider x fault, plus 200 seeded SIGKILLs.
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability.fault_matrix --iterations 3 --kills 200

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz_report --scale 10

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
