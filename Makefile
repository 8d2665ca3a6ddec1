# Comeback: two commands on a fresh machine.
#   make run   ingest the bundled sample squad into the default store and write the reports
#   make test  lint, type-check and run the test suite
# Both create .venv and install on first use, then reuse it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench fuzz install sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/comeback run data/sample/inbox

lint: $(STAMP)
	$(BIN)/ruff check pipeline flows schemas tests benchmarks data/sample
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

fuzz: $(STAMP)
	COMEBACK_HYPOTHESIS_PROFILE=explore COMEBACK_FUZZ_EXAMPLES=$${COMEBACK_FUZZ_EXAMPLES:-20000} $(BIN)/pytest tests/test_parse.py tests/test_fastfit.py -k mutated -p no:cacheprovider

sample: $(STAMP)
	$(BIN)/python data/sample/generate.py

clean:
	rm -rf $(VENV) .comeback .pytest_cache .mypy_cache .ruff_cache
