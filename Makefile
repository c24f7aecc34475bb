# patchsync developer entry points.  Every target builds its own virtual
# environment, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: all test lint demo bench clean

all: test

$(BIN)/patchsync: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

test: $(BIN)/patchsync
	$(BIN)/ruff check patchsync tests benchmarks
	$(BIN)/ruff format --check patchsync tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: $(BIN)/patchsync
	$(BIN)/ruff check patchsync tests benchmarks
	$(BIN)/mypy

demo: $(BIN)/patchsync
	$(BIN)/python -m tests.demo

# Benchmarks are run by hand (they build 150 MB packages and import a
# kernel tree); their results go into docs/benchmarks.md with the date and machine.
BENCHMARKS = extract classify poll sync history

bench: $(BIN)/patchsync
	for b in $(BENCHMARKS); do $(BIN)/python -m benchmarks.$$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
