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
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest -m "not integration"

# everything, with real Kafka and Cassandra started by infra/ (what CI runs)
# then the quick benchmark (embedded, under a minute): it reports, never fails on a target
test: lint
	bash infra/test-with-stack.sh
	$(BIN)/fleetgraph bench --quick --out .fleetgraph/bench-quick.json
	cat .fleetgraph/bench-quick.json

clean:
	rm -rf $(VENV) .fleetgraph .pytest_cache .mypy_cache .ruff_cache
