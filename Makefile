# CardioAlert — the two commands of the quick start are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint format openapi i18n migration worker clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "CardioAlert needs Python 3.11: set PYTHON=/path/to/python3.11")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

## Serve the API on http://127.0.0.1:8000 on the embedded default (SQLite, local files).
run: $(INSTALLED)
	$(BIN)/python -m services serve

## The whole suite, against real PostgreSQL and Redis (see tests/infra.py).
test: $(INSTALLED)
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Regenerate the iOS contract after an API change.
openapi: $(INSTALLED)
	$(BIN)/python -m services openapi

## Refresh the catalogs' msgids from the code; then translate the new entries in ru and uz.
i18n: $(INSTALLED)
	$(BIN)/pybabel extract -F i18n/babel.cfg -k N_ -k NP_:1,2 --no-location --sort-output \
		-o $(VENV)/messages.pot services booking ecg_ml notifications i18n clinics_seed
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d i18n/locales --no-fuzzy-matching \
		--width 100 --ignore-obsolete

## New migration from the models: make migration m="what changed"
migration: $(INSTALLED)
	$(BIN)/alembic -c migrations/alembic.ini revision --autogenerate -m "$(m)"

worker: $(INSTALLED)
	$(BIN)/python -m services worker

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
