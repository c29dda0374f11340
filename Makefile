# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint unit clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/fleetgraph demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -m "not integration"

# everything, with real Kafka and Cassandra started by infra/ (what CI runs)
test: lint
	bash infra/test-with-stack.sh

clean:
	rm -rf $(VENV) .fleetgraph .pytest_cache .mypy_cache .ruff_cache
