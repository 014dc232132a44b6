# Two commands do all the set-up on a fresh machine:
#   make run    installs Courier in .venv and runs it on its embedded defaults
#   make test   installs Courier and its test tools, then runs ruff, mypy and the whole suite
PYTHON ?= python3
# Test workers: the suite waits on subprocesses, servers and the database as much as it
# computes, so more workers than the 2 cores here pay off (see README, Development).
TEST_WORKERS ?= 4
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.installed-bench

.PHONY: run sandbox test lint typecheck pytest services bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(INSTALLED)
	$(BIN)/courier run

# The same install, then the whole system with a local Telegram stand-in and a chat in the
# terminal: every flow, with no Telegram account and no token.
sandbox: $(INSTALLED)
	$(BIN)/courier sandbox

services:
	scripts/ensure-services

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

pytest: $(INSTALLED) services
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal --durations=15 $(PYTEST_ARGS)

# ruff first (a second), then mypy beside the suite: the suite leaves a core idle part of
# the time, so mypy costs almost no wall time there. Either failing fails `make test`.
test: lint
	$(MAKE) --no-print-directory -j2 typecheck pytest

# The benchmarks' peers (the bench extra) on top of the test install.
$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(BENCH_INSTALLED)
	$(BIN)/python -m bench.catalog_search

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
