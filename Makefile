# One command per job; each target installs what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

# Airflow runs from this checkout: project-local home, our DAGs. The `integra` package is installed
# (editable) into .venv and registers itself with Airflow through its entry points: no plugins folder.
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: install demo test lint airflow bench ui-shot sandbox stack clean

install: $(STAMP)

# --compile-bytecode: every Airflow process (tests, demo) starts from .pyc files, as in a built image.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@# mysqlclient (the MySQL provider's driver) compiles against the MySQL/MariaDB client headers.
	@pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null || \
	  { echo "Installing the MySQL client headers for mysqlclient (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-libmysqlclient-dev pkg-config >/dev/null; }
	@# The campaigns-page browser test (and make ui-shot) drive Debian's chromium.
	@test -x /usr/bin/chromium || { echo "Installing chromium for the browser tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

demo: $(STAMP)
	$(BIN)/python include/demo/run_demo.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

airflow: $(STAMP)
	$(BIN)/airflow standalone

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/run_all.py

ui-shot: $(STAMP)
	$(BIN)/python tests/ui/ui_shot.py

# The production topology without Docker (PostgreSQL, Redis, CeleryExecutor, two workers); Ctrl-C stops it.
stack: $(STAMP)
	$(BIN)/python include/demo/run_stack.py $(STACK_ARGS)

sandbox: $(STAMP)
	$(BIN)/python include/integra_sandbox/server.py --host 127.0.0.1 --port 8765 --token ik_test_sandbox

clean:
	rm -rf .airflow .cache .pytest_cache .ruff_cache .mypy_cache
