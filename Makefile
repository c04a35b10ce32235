# The two commands: `make run` (the demo, zero setup) and `make test` (the whole
# suite on real PostgreSQL, Redis and Elasticsearch). See README.md and deploy/README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

HOST ?= 127.0.0.1
PORT ?= 8000
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.requirements.stamp
ASSETS_STAMP := frontend/node_modules/.hotline-assets.stamp

.PHONY: help venv assets translations run test services-start services-stop services-status clean distclean

help:
	@echo "make run              the demo on http://$(HOST):$(PORT) (SQLite, in-memory channel layer, embedded search)"
	@echo "make test [ARGS=...]  the test suite on real PostgreSQL, Redis and Elasticsearch (deploy/run-tests.sh)"
	@echo "make venv | assets    install the pinned Python deps into $(VENV) | the front-end packages"
	@echo "make services-start | services-stop | services-status"
	@echo "make clean            stop the services, remove what runs left under var/ (keeps $(VENV) and downloads)"
	@echo "make distclean        clean, and remove $(VENV), var/ and frontend/node_modules too"

# --- Python -----------------------------------------------------------------
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt constraints.txt
	@if ! $(PY) -m pip --version >/dev/null 2>&1; then \
	  rm -rf $(VENV); \
	  if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      echo "make: installing python3-venv"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	    else \
	      echo "make: $(PYTHON) cannot create a virtualenv; install it: sudo apt-get install -y python3-venv" >&2; exit 1; \
	    fi; \
	  fi; \
	  echo "make: creating $(VENV)"; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	@touch $@

# --- Translations: the .mo files are built here, never committed --------------
translations: venv
	@if ! command -v msgfmt >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing gettext"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; \
	  else echo "make: msgfmt is missing; install it: sudo apt-get install -y gettext" >&2; exit 1; fi; \
	fi
	@DEBUG=true $(PY) manage.py compilemessages -v0 -l en --ignore=.venv --ignore=frontend/node_modules --ignore=var

# --- Front-end packages (from the npm registry, never a CDN) ----------------
assets:
	@if [ -f frontend/package-lock.json ]; then \
	  if [ ! -f $(ASSETS_STAMP) ] || [ frontend/package-lock.json -nt $(ASSETS_STAMP) ] || [ frontend/package.json -nt $(ASSETS_STAMP) ]; then \
	    if ! command -v npm >/dev/null; then \
	      if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	      else echo "make: npm is missing; install it: sudo apt-get install -y nodejs npm" >&2; exit 1; fi; \
	    fi; \
	    echo "make: npm ci in frontend/"; \
	    (cd frontend && npm ci --no-audit --no-fund && npm run --if-present build) && touch $(ASSETS_STAMP); \
	  fi; \
	fi

# --- The demo -----------------------------------------------------------------
# Zero setup: the backing-service variables are removed so the defaults apply.
run: venv assets translations
	@unset DATABASE_URL DATABASE_URL_FILE REDIS_URL REDIS_URL_FILE ELASTICSEARCH_URL ELASTICSEARCH_URL_FILE; \
	export DEBUG=true; \
	set -e; \
	$(PY) manage.py migrate --noinput; \
	$(PY) manage.py load_demo; \
	echo; \
	echo "  12345 hotline demo: http://$(HOST):$(PORT)/   (health: http://$(HOST):$(PORT)/healthz)"; \
	echo "  SQLite under var/, in-memory channel layer, embedded search; Ctrl-C stops it."; \
	echo; \
	echo "  username     role                   department"; \
	echo "  agent        agent 话务员           -"; \
	echo "  dispatcher   dispatcher 派单员      -"; \
	echo "  supervisor   supervisor 督办        -"; \
	echo "  zhujian      department staff       市住房和城乡建设局"; \
	echo "  chengguan    department staff       市城市管理局"; \
	echo "  password for all of them: demo-12345"; \
	echo; \
	if [ -z "$${TWILIO_ACCOUNT_SID:-}" ] || [ -z "$${TWILIO_AUTH_TOKEN:-}" ] || [ -z "$${TWILIO_PHONE_NUMBER:-}" ]; then \
	  echo "  Telephony is off: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER are not set (no calls or SMS)."; \
	  echo; \
	fi; \
	exec $(PY) manage.py serve --host $(HOST) --port $(PORT) --with-worker

# --- Tests and services -------------------------------------------------------
test:
	bash deploy/run-tests.sh $(ARGS)

services-start:
	bash deploy/services.sh start

services-stop:
	bash deploy/services.sh stop

services-status:
	bash deploy/services.sh status

clean:
	-bash deploy/services.sh stop
	if [ -L var/postgres ]; then rm -rf "$$(readlink -f var/postgres)"; fi
	find var -mindepth 1 -maxdepth 1 ! -name es-lib -exec rm -rf {} + 2>/dev/null || true
	rm -rf staticfiles test-results .pytest_cache $(ASSETS_STAMP)
	find . -path ./$(VENV) -prune -o -path ./frontend/node_modules -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) var frontend/node_modules
