# YouLab v2. `make run` and `make test` do all set-up themselves (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DOLT := scripts/dolt.sh
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help deps venv dolt dolt-stop migrate run test stop superuser clean-data

help:
	@echo "make run    set everything up, start Dolt, migrate, serve http://$(HOST):$(PORT)/admin/"
	@echo "            (SUPERUSER=1 also creates the dev superuser admin / DJANGO_SUPERUSER_PASSWORD)"
	@echo "make test   set everything up, start Dolt, run the test suite against it"
	@echo "make stop   stop the Dolt server"

deps:
	@scripts/system-deps.sh

$(VENV)/.installed: requirements.txt
	@scripts/system-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

dolt:
	@$(DOLT) start

migrate: venv dolt
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py migrate --noinput

superuser: migrate
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-1} DJANGO_SUPERUSER_USERNAME=$${DJANGO_SUPERUSER_USERNAME:-admin} \
	  DJANGO_SUPERUSER_EMAIL=$${DJANGO_SUPERUSER_EMAIL:-admin@youlab.local} \
	  DJANGO_SUPERUSER_PASSWORD=$${DJANGO_SUPERUSER_PASSWORD:-admin} \
	  $(PY) manage.py ensure_superuser

run: migrate
	@if [ "$${SUPERUSER:-0}" = 1 ]; then $(MAKE) --no-print-directory superuser; fi
	@echo "Admin: http://$(HOST):$(PORT)/admin/   (Ctrl-C stops Django; 'make stop' stops Dolt)"
	@export DJANGO_DEBUG=$${DJANGO_DEBUG:-1}; \
	if [ -z "$${YOULAB_FERNET_KEYS:-}" ] && [ "$$DJANGO_DEBUG" = 1 ]; then \
	  YOULAB_FERNET_KEYS=$$($(PY) scripts/dev_fernet_key.py) || exit 1; export YOULAB_FERNET_KEYS; fi; \
	exec $(PY) manage.py runserver $(HOST):$(PORT)

test: venv dolt
	@$(PY) -m pytest $(PYTEST_ARGS)

stop:
	@$(DOLT) stop

clean-data: stop
	rm -rf var/dolt
