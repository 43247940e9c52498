# Two commands for a newcomer: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_DATABASE_URL := postgres://postgres@127.0.0.1:5432/clinic
NODE_STAMP := node_modules/.installed-stamp
SCREENSHOTS := build/screenshots

.PHONY: install messages gettext run test lint clean bench bench-reminders faults chromium wrk

# Reinstall only when the pinned dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The translations (locale/*/LC_MESSAGES/django.po) compiled to .mo, which git does not keep:
# gettext's msgfmt does it (installed with apt where missing, like Chromium below).
gettext:
	@command -v msgfmt >/dev/null || apt-get install -y -qq gettext >/dev/null 2>&1 || \
	  (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq gettext >/dev/null 2>&1) || \
	  (echo "gettext (msgfmt) is needed: apt-get install -y gettext" && exit 1)

messages: $(STAMP) gettext
	DEBUG=1 $(BIN)/python manage.py compilemessages --ignore .venv --ignore node_modules >/dev/null

install: $(STAMP) messages

run: install
	./scripts/run-dev.sh

# Browser tests drive Debian's Chromium; install it where missing (root), else say so loudly.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Chromium for the browser tests (apt-get install -y chromium)..."; \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	  echo "WARNING: could not install Chromium: THE BROWSER TESTS WILL BE SKIPPED."; \
	fi

# axe-core for the browser tests' accessibility check, at the version package-lock.json pins.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(NODE_STAMP)

test: install chromium $(NODE_STAMP)
	@export DEBUG=1 DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}"; \
	$(BIN)/python scripts/check_services.py --require postgres redis && \
	$(BIN)/ruff check . && \
	$(BIN)/ruff format --check . && \
	$(BIN)/mypy && \
	$(BIN)/lint-imports && \
	$(BIN)/python manage.py makemigrations --check --dry-run >/dev/null && \
	$(BIN)/python scripts/check_translations.py && \
	$(BIN)/pytest; status=$$?; \
	echo "Screenshots of the browser tests (desktop and phone): $(CURDIR)/$(SCREENSHOTS)/"; \
	exit $$status

# The load benchmark (README, "Performance"): not part of `make test`.
wrk:
	@command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 || \
	  (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1) || \
	  (echo "wrk is needed: apt-get install -y wrk" && exit 1)

bench: install wrk
	$(BIN)/python bench/load.py

bench-reminders: install
	$(BIN)/python bench/reminders.py

# Reminder delivery under injected faults (README, "Fault injection"): not part of `make test`.
faults: install
	$(BIN)/python bench/faults.py

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && DEBUG=1 $(BIN)/mypy && \
	  $(BIN)/lint-imports

clean:
	rm -rf $(VENV) node_modules .run build staticfiles .pytest_cache .ruff_cache *.egg-info
