# Entry points. The real work is in scripts/: each one bootstraps first, so `make run` and
# `make test` work on a fresh Debian 12 machine (as root) with nothing but git and make.
#
#   make run                       migrate, start Redis, scheduler, worker and web on :8080
#   make test [ARGS="-k foo"]      lint + pytest on SQLite, then on PostgreSQL
#   make bootstrap                 OS packages, .venv, pip install -e '.[test]'
#   make lint / make format        ruff + import-linter / ruff's fixes
#   make vendor                    refresh static/vendor/ from the npm registry (see its README)
#   make clean                     remove build output, caches and run-time files (keeps .venv and db.sqlite3)

SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN := .venv/bin
ARGS ?=

# Versions of the vendored front-end packages (static/vendor/README.md).
BOOTSTRAP_VERSION ?= 5.3.9
HTMX_VERSION ?= 2.0.11
BOOTSTRAP_ICONS_VERSION ?= 1.13.2

.PHONY: help run test bootstrap lint format vendor clean distclean

help:
	@sed -n '4,10p' Makefile | sed 's/^# *//'

run:
	bash scripts/run.sh $(ARGS)

test:
	bash scripts/test.sh $(ARGS)

bootstrap:
	bash scripts/bootstrap.sh --test

lint:
	@bash scripts/bootstrap.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format:
	@bash scripts/bootstrap.sh
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Fetch the packages with `npm pack` (tarballs only: no node_modules, no install scripts run)
# and copy the few files the templates use, with their licences. Nothing is fetched at run time.
vendor:
	@set -euo pipefail; \
	tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	cd "$$tmp"; \
	npm pack --silent bootstrap@$(BOOTSTRAP_VERSION) htmx.org@$(HTMX_VERSION) bootstrap-icons@$(BOOTSTRAP_ICONS_VERSION) >/dev/null; \
	for f in *.tgz; do mkdir "$${f%.tgz}"; tar -xzf "$$f" -C "$${f%.tgz}"; done; \
	cd "$(CURDIR)"; \
	dest=static/vendor; \
	rm -rf $$dest/bootstrap $$dest/htmx $$dest/bootstrap-icons; \
	mkdir -p $$dest/bootstrap/css $$dest/bootstrap/js $$dest/htmx $$dest/bootstrap-icons/font/fonts; \
	src="$$tmp/bootstrap-$(BOOTSTRAP_VERSION)/package"; \
	cp "$$src/LICENSE" $$dest/bootstrap/LICENSE; \
	cp "$$src"/dist/css/bootstrap.min.css{,.map} $$dest/bootstrap/css/; \
	cp "$$src"/dist/js/bootstrap.bundle.min.js{,.map} $$dest/bootstrap/js/; \
	src="$$tmp/htmx.org-$(HTMX_VERSION)/package"; \
	cp "$$src/LICENSE" $$dest/htmx/LICENSE; \
	cp "$$src/dist/htmx.min.js" $$dest/htmx/; \
	src="$$tmp/bootstrap-icons-$(BOOTSTRAP_ICONS_VERSION)/package"; \
	cp "$$src/LICENSE" $$dest/bootstrap-icons/LICENSE; \
	cp "$$src/font/bootstrap-icons.min.css" $$dest/bootstrap-icons/font/; \
	cp "$$src"/font/fonts/bootstrap-icons.woff{,2} $$dest/bootstrap-icons/font/fonts/; \
	echo "vendored bootstrap $(BOOTSTRAP_VERSION), htmx.org $(HTMX_VERSION), bootstrap-icons $(BOOTSTRAP_ICONS_VERSION) into $$dest (update README.md there)"

clean:
	rm -rf build .run .pytest_cache .ruff_cache .test-db.sqlite3* *.egg-info
	find . -path ./.venv -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

# Also the virtualenv: the next bootstrap recreates it.
distclean: clean
	rm -rf .venv
