# Chorus — `make demo` runs the platform, `make test` runs the tests.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := config.settings

.PHONY: install demo test worker gpu-worker beat web bench lint migrate clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PY) not found)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: install migrate
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/python manage.py demo_seed
	@platform/run-demo.sh $(PORT)

test: install
	$(BIN)/python -m pytest

worker: install
	$(BIN)/celery -A config worker -Q default -l info

gpu-worker: install
	$(BIN)/celery -A config worker -Q gpu -l info --concurrency 1

beat: install
	$(BIN)/celery -A config beat -l info

bench: install
	$(BIN)/python bench/annotators.py

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf var/broker var/media var/static
