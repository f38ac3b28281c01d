# Two commands a newcomer needs: `make demo` (install and run the console on built-in sample
# backups) and `make test` (install everything the tests need, then run them all).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-deps gui clean dist wheelhouse screenshots

$(BIN)/recovery-console: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/recovery-console
	$(BIN)/recovery-console demo --home demo-home

gui: $(BIN)/recovery-console
	RECOVERY_CONSOLE_HOME=$(CURDIR)/demo-home $(BIN)/recovery-console gui

test-deps: $(BIN)/recovery-console
	PYTHON=$(BIN)/python bash .ci/install-test-deps.sh

test: test-deps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

dist: $(BIN)/recovery-console
	PYTHON=$(BIN)/python bash packaging/build.sh

wheelhouse: $(BIN)/recovery-console
	PYTHON=$(BIN)/python bash packaging/wheelhouse.sh

screenshots: $(BIN)/recovery-console
	QT_QPA_PLATFORM=offscreen $(BIN)/python tools/screenshots.py

clean:
	rm -rf $(VENV) demo-home build dist wheelhouse *.egg-info
