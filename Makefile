# Two commands: `make run` (set up and run the server with the demo network) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt obsclient/pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
# The demo network's three simulated sites (obsclient, simulator driver) observe against the local server.
DEMO_AGENTS ?= 1

.PHONY: run test setup lint migrations-check bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps pyindi-client==2.3.0
	if [ -f obsclient/pyproject.toml ]; then $(PY) -m pip install -q -e ./obsclient; fi
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

# Migrations, demo data, then web server + Celery worker + beat (+ three simulated sites) together; Ctrl-C stops all.
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py collectstatic --noinput -v0
	@echo "Server: http://$(HOST):$(PORT)/  admin: /admin/  API docs: /api/v1/docs/"
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A network worker --loglevel=info --concurrency=2 & \
	$(VENV)/bin/celery -A network beat --loglevel=info & \
	if [ "$(DEMO_AGENTS)" = 1 ]; then (sleep 5; $(PY) obsclient/scripts/demo_sites.py --url http://$(HOST):$(PORT) \
		--keys-file var/demo_site_keys.json) & fi; \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT)

test: $(STAMP)
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --ignore-missing-imports obsclient/src/obsclient

migrations-check: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var
