# Two commands a newcomer needs: `make demo` (install and run the console on built-in sample
# backups) and `make test` (install everything the tests need, then run them all).
# `make test-fast` is the inner loop (unit and GUI tests: no servers, no root); `make lint` is the gate CI runs first.
PYTHON ?= python3
VENV ?= .venv
# Absolute, because packaging/build.sh runs the interpreter from its own work folder.
BIN := $(abspath $(VENV))/bin
PIP_INSTALL := $(BIN)/pip install --quiet --constraint $(CURDIR)/constraints.txt

.PHONY: demo test test-fast test-deps lint lint-deps gui clean dist wheelhouse screenshots walk

# The console with its desktop front end; a headless server needs only `pip install .` (no Qt).
$(BIN)/recovery-console: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e '.[gui]'
	touch $@

demo: $(BIN)/recovery-console
	$(BIN)/recovery-console demo --home demo-home

gui: $(BIN)/recovery-console
	RECOVERY_CONSOLE_HOME=$(CURDIR)/demo-home $(BIN)/recovery-console gui

# ruff and mypy come together with the lint extra; mypy's script stands for both.
$(BIN)/mypy: $(BIN)/recovery-console
	$(PIP_INSTALL) -e '.[lint]'
	touch $@

lint-deps: $(BIN)/mypy

lint: lint-deps
	$(BIN)/ruff check .
	$(BIN)/mypy

test-deps: $(BIN)/recovery-console
	PYTHON=$(BIN)/python bash .ci/install-test-deps.sh

$(BIN)/pytest: $(BIN)/recovery-console
	$(PIP_INSTALL) -e '.[test]'
	touch $@

# Tests that would need a PostgreSQL, keyring or storage server skip when it is not installed.
test-fast: $(BIN)/pytest
	QT_QPA_PLATFORM=offscreen RECOVERY_CONSOLE_ALLOW_MISSING_PG=1 $(BIN)/python -m pytest -m 'not integration' \
		tests/unit tests/gui

test: test-deps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

dist: $(BIN)/recovery-console
	PYTHON=$(BIN)/python bash packaging/build.sh

wheelhouse: $(BIN)/recovery-console
	PYTHON=$(BIN)/python bash packaging/wheelhouse.sh

# The console walked with real X input (Xvfb, openbox, xdotool, ImageMagick's import); prints where its screenshots are.
# The setup-to-rollback walk also needs PostgreSQL 15 and gnome-keyring (make test-deps); it skips without them.
walk: $(BIN)/pytest
	$(BIN)/python -m pytest -s -p no:cacheprovider tests/walk

screenshots: $(BIN)/recovery-console
	QT_QPA_PLATFORM=offscreen $(BIN)/python tools/screenshots.py

clean:
	rm -rf $(VENV) demo-home build dist wheelhouse *.egg-info
