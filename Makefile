# presswire: `make run` (the service on SQLite), `make test` (the test suite), `make demo` (offline tour).
# Each target creates .venv and installs presswire into it first, when needed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= config/presswire.example.toml
PYTEST_ARGS ?=

.PHONY: venv run poll demo test bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)  ## the service: poll the example config's feeds on schedule, into var/presswire.db
	$(BIN)/presswire --config $(CONFIG) run

poll: $(STAMP)  ## one pass over the example config's feeds
	$(BIN)/presswire --config $(CONFIG) poll

demo: $(STAMP)  ## offline tour: serve fixtures/ on 127.0.0.1, poll it, list and show the items
	$(BIN)/python fixtures/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
