# dueq's two commands: `make run` (embedded demo, no server needed) and `make test`
# (makes sure RabbitMQ and PostgreSQL are reachable, then runs the whole suite).
# Both build .venv on first use with the standard library's venv and pip: `make run`
# installs only what `dueq up` needs, `make test` adds the dev toolchain.

# The first Python >= 3.11 on PATH. A probe's stderr is silenced: pyenv shims print
# "pyenv: python3.13: command not found" for every version that is not installed.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 \
	&& $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
VENV := .venv
# Test processes for make test (pytest-xdist); TEST_PROCESSES=0 runs the suite in one process.
TEST_PROCESSES ?= 3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test lint format schema bench services browser node-deps clean

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "dueq needs Python 3.11 or newer (none found on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# What `dueq up` needs, its dashboard included, and nothing more (no pytest, mypy, ruff,
# hypothesis, browser driver).
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dashboard]'
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/dueq up --app examples.demo

services:
	@bash scripts/ensure-services.sh

# Headless Chromium and chromedriver (Debian packages) for the dashboard's browser tests.
browser:
	@bash scripts/ensure-browser.sh

# The Node consumer's dependencies, for the conformance kit (skipped, saying so, without node).
node-deps:
	@bash scripts/install-node-worker.sh

test: $(STAMP) services browser node-deps
	$(BIN)/pytest -n $(TEST_PROCESSES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(STAMP)
	$(BIN)/dueq schema --out docs/protocol

# Benchmarks against APScheduler, Celery and the broker's ceiling (installs the [bench]
# extra on first use). BENCH_ARGS="--quick" runs a small smoke version.
bench: $(STAMP) services
	bash scripts/bench.sh $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
