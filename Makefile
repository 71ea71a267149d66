# Two commands on a fresh machine: `make demo` and `make test` (`make bench`: the quick benchmarks).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CI installs in strict editable mode so a package missing from pyproject fails loudly.
EDITABLE_MODE ?= strict

.PHONY: demo test install install-test install-demo install-bench browser lint proto client bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e . --config-settings editable_mode=$(EDITABLE_MODE)

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=$(EDITABLE_MODE)

install-demo: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo]' --config-settings editable_mode=$(EDITABLE_MODE)

install-bench: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]' --config-settings editable_mode=$(EDITABLE_MODE)

demo: install-demo
	$(BIN)/lookalike demo

# The benchmarks that have a --quick smoke run; the full ones and their figures: BENCHMARKS.md.
bench: install-bench
	$(BIN)/python benchmarks/index_bench.py --quick
	$(BIN)/python benchmarks/server_bench.py --quick

# The web app's browser tests (tests/ui/) drive Debian's chromium through chromedriver.
# Installed here when missing and we may (root, as CI runs); otherwise the run stops with
# the command to run. The tests themselves fail, never skip, without the browser.
BROWSER_INSTALL := apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing the browser for tests/ui: $(BROWSER_INSTALL)"; \
		$(BROWSER_INSTALL); \
	else \
		echo "tests/ui needs $(CHROMIUM) and $(CHROMEDRIVER); run as root:"; \
		echo "  $(BROWSER_INSTALL)"; \
		exit 1; \
	fi

test: install-test browser
	$(BIN)/python proto/generate.py --check
	$(BIN)/python clients/generate.py --check
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check .

proto: install-test
	$(BIN)/python proto/generate.py

# Client (clients/client.py) is generated from AsyncClient (clients/async_client.py).
client: install-test
	$(BIN)/python clients/generate.py

clean:
	rm -rf $(VENV) build *.egg-info demo-output
