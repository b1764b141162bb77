# YouLab v2. `make run` and `make test` do all set-up themselves (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DOLT := scripts/dolt.sh
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help deps venv dolt dolt-stop migrate run serve cluster cluster-stop redis test stop superuser clean-data

help:
	@echo "make run    set everything up, start Dolt, migrate, serve http://$(HOST):$(PORT)/admin/"
	@echo "            (and the decision-callback worker, manage.py deliver_callbacks)"
	@echo "            (SUPERUSER=1 also creates the dev superuser admin / DJANGO_SUPERUSER_PASSWORD)"
	@echo "make serve  production: checks the settings, migrates, collects static files, runs gunicorn"
	@echo "            (its master also runs the decision-callback worker)"
	@echo "            (DEBUG off; needs DJANGO_SECRET_KEY, ALLOWED_HOSTS, YOULAB_FERNET_KEYS; docs/deploy.md)"
	@echo "make cluster  Dolt primary (3307) + standby (3308) and the app reading from the standby"
	@echo "make test   set everything up, start Dolt and Redis, run the test suite against them"
	@echo "make stop   stop the Dolt server (make cluster-stop: the cluster's nodes)"

deps:
	@scripts/system-deps.sh

$(VENV)/.installed: requirements.txt
	@scripts/system-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

# The local Dolt server, unless DATABASE_URL names another one.
dolt:
	@if [ -z "$${DATABASE_URL:-}" ]; then $(DOLT) start; fi

redis:
	@scripts/redis.sh start

migrate: venv dolt
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py migrate --noinput

superuser: migrate
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-1} DJANGO_SUPERUSER_USERNAME=$${DJANGO_SUPERUSER_USERNAME:-admin} \
	  DJANGO_SUPERUSER_EMAIL=$${DJANGO_SUPERUSER_EMAIL:-admin@youlab.local} \
	  DJANGO_SUPERUSER_PASSWORD=$${DJANGO_SUPERUSER_PASSWORD:-admin} \
	  $(PY) manage.py ensure_superuser

run: migrate
	@if [ "$${SUPERUSER:-0}" = 1 ]; then $(MAKE) --no-print-directory superuser; fi
	@echo "Admin: http://$(HOST):$(PORT)/admin/   (Ctrl-C stops Django and the callback worker; 'make stop' stops Dolt)"
	@export DJANGO_DEBUG=$${DJANGO_DEBUG:-1}; \
	if [ -z "$${YOULAB_FERNET_KEYS:-}" ] && [ "$$DJANGO_DEBUG" = 1 ]; then \
	  YOULAB_FERNET_KEYS=$$($(PY) scripts/dev_fernet_key.py) || exit 1; export YOULAB_FERNET_KEYS; fi; \
	$(PY) manage.py deliver_callbacks & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT; \
	$(PY) manage.py runserver $(HOST):$(PORT)

# Production mode (docs/deploy.md): refuses to start without its settings, DEBUG off.
serve: venv
	@DJANGO_DEBUG=0 $(PY) -m youlab.serving preflight
	@DJANGO_DEBUG=0 $(MAKE) --no-print-directory migrate
	@DJANGO_DEBUG=0 $(PY) manage.py collectstatic --noinput -v 0
	@echo "Serving on http://$(HOST):$(PORT)/ (gunicorn; JSON logs on stdout)"
	@DJANGO_DEBUG=0 DJANGO_LOG_FORMAT=json HOST=$(HOST) PORT=$(PORT) \
	  exec $(PY) -m gunicorn -c youlab/gunicorn.conf.py youlab.wsgi:application

# A local Dolt cluster (scripts/cluster.sh; CLUSTER_PORTS, default "3307 3308") and the app on it:
# writes to the primary, agent API and admin reads from the standby. Development settings unless
# DJANGO_DEBUG=0 (then as `make serve`). Fail-over: docs/deploy.md.
CLUSTER_ENV = $(or $(CLUSTER_DIR),var/cluster)/app.env
cluster: venv
	@scripts/cluster.sh start
	@set -a; . $(CLUSTER_ENV); set +a; DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(MAKE) --no-print-directory migrate
	@echo "Admin: http://$(HOST):$(PORT)/admin/  (reads from the standby; 'make cluster-stop' stops Dolt)"
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-1} YOULAB_ENV_FILE=$(CLUSTER_ENV) GUNICORN_PIDFILE=$${GUNICORN_PIDFILE:-$(abspath $(or $(CLUSTER_DIR),var/cluster))/gunicorn.pid} \
	  HOST=$(HOST) PORT=$(PORT) exec $(PY) -m gunicorn -c youlab/gunicorn.conf.py youlab.wsgi:application

cluster-stop:
	@scripts/cluster.sh stop

# Redis backs the tests of the shared cache (CACHE_URL); scripts/redis.sh installs Debian's.
test: venv dolt redis
	@$(PY) -m pytest $(PYTEST_ARGS)

stop:
	@$(DOLT) stop
	@scripts/redis.sh stop

clean-data: stop
	rm -rf var/dolt
