# Two entry points: `make run` (stress run --workers 200 on a managed DynamoDB Local) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup lint

$(BIN)/stress: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,ray]'  # ray: the suite tests --executor ray (the plain install never needs it)
	touch $(BIN)/stress

setup: $(BIN)/stress
	$(BIN)/stress local install
	$(BIN)/python -m harness.backends.dynalite_install

run: setup
	$(BIN)/stress run --workers 200

# Byte-compiled first: where PYTHONDONTWRITEBYTECODE is set (this CI's image sets it) every `stress` process the
# suite starts would compile the package again (0.1-0.3 s each, measured here).
test: setup
	$(BIN)/python -m compileall -q harness workloads examples
	$(BIN)/python -m pytest -q

lint: $(BIN)/stress
	$(BIN)/ruff check .
