# Everything runs from a local virtual environment that these targets create.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# Test processes (pytest-xdist); the tests that start a stack take turns on one.
TEST_WORKERS ?= 2

.PHONY: install run serve test lint clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $@

## run: install, migrate, load the catalog and demo logins, serve on $(HOST):$(PORT)
## (127.0.0.1:8000 unless given, e.g. `make run PORT=8021`)
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_catalog
	$(PY) manage.py seed_wallets
	$(PY) manage.py seed_demo --admin-url http://$(HOST):$(PORT)/admin/
	$(PY) manage.py seed_demo_economy
	$(MAKE) --no-print-directory serve

# With no broker, `celery beat` runs the scheduled tasks eagerly in its own process.
serve:
	@echo "Admin: http://$(HOST):$(PORT)/admin/   API docs: http://$(HOST):$(PORT)/api/docs/"
	@$(VENV)/bin/celery -A config beat --loglevel=warning --pidfile= & beat=$$!; \
	trap 'kill $$beat 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver $(HOST):$(PORT)

## test: install and run the whole test suite
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

## lint: ruff, the import contracts (dependencies run downward only), no missing migration
lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm media staticfiles .pytest_cache .ruff_cache .import_linter_cache

.PHONY: bench bench-smoke bench-journal soak-renewals

## soak-renewals: SIZE (default 10,000) due subscriptions renewed by a Celery worker
## SIGKILLed mid-run and restarted; needs DATABASE_URL and CELERY_BROKER_URL
soak-renewals: install
	SUBSCRIPTION_SOAK_SIZE=$(or $(SIZE),10000) $(PY) -m pytest -p no:cacheprovider \
		--create-db tests/test_renewal_faults.py $(PYTEST_ARGS)

## bench: the benchmark on the real stack: gunicorn, PostgreSQL, wrk, Celery on Redis,
## the admin at 1 M rows (bench/README.md; BENCH_ADMIN=0 / BENCH_CELERY=0 skip steps)
bench: install
	$(PY) -m bench.run

## bench-smoke: the same at tiny sizes in about 1.5 minutes, as the test suite runs it
bench-smoke: install
	$(PY) -m bench.run --quick --out bench/results/smoke.json

## bench-journal: the journal export's time and memory at TRANSFERS transfers
## (default 10 M) in a database of its own (bench/journal_export.py; JOURNAL_DB names it)
bench-journal: install
	$(PY) -m bench.journal_export --transfers $(or $(TRANSFERS),10000000) $(if $(JOURNAL_DB),--database $(JOURNAL_DB))
