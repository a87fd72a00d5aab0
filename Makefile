# Two commands on a fresh machine: `make run` (set up and serve) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The server `make run` starts (gunicorn; process and thread counts in petsite/gunicorn.conf.py).
SERVE := $(VENV)/bin/gunicorn -c petsite/gunicorn.conf.py -b $(HOST):$(PORT) petsite.wsgi:application

.PHONY: run test venv system-deps worker bench bench-faults clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# Chromium for the browser tests comes from Debian (Playwright's own browser download is unavailable here).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver; fi; }

# `make run` serves the site as its users see it (DEBUG off: the site's own 404 and 500 pages, rate limits on) over
# plain HTTP on this machine: a random secret key generated once into local/secret_key (git-ignored), no redirect to
# HTTPS, cookies not marked Secure, no HSTS, Django trusts no X-Forwarded-Proto (gunicorn faces the browser itself). Each
# of these yields to the environment: DJANGO_DEBUG=1 make run is the development mode. Production sets its own (petsite/settings.py keeps the strict defaults without these).
run: export DJANGO_DEBUG ?= 0
run: export DJANGO_SECRET_KEY_FILE ?= $(CURDIR)/local/secret_key
run: export DJANGO_SECURE_SSL_REDIRECT ?= 0
run: export DJANGO_SECURE_COOKIES ?= 0
run: export DJANGO_SECURE_HSTS_SECONDS ?= 0
run: export DJANGO_BEHIND_TLS_PROXY ?= 0
run: venv
	@if [ -z "$$DJANGO_SECRET_KEY" ] && [ ! -s "$$DJANGO_SECRET_KEY_FILE" ]; then \
	  mkdir -p "$$(dirname "$$DJANGO_SECRET_KEY_FILE")" && tmp=$$(mktemp "$$DJANGO_SECRET_KEY_FILE.XXXXXX") && \
	  $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > "$$tmp" && \
	  if ln "$$tmp" "$$DJANGO_SECRET_KEY_FILE" 2>/dev/null; then \
	    echo "Generated a random secret key in $$DJANGO_SECRET_KEY_FILE (kept for later runs; never commit it)"; fi; \
	  rm -f "$$tmp"; \
	fi
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py register_shipped_model
	$(PY) manage.py collectstatic --noinput
	@if [ "$$DJANGO_DEBUG" = 0 ]; then echo "Serving http://$(HOST):$(PORT)/ (DEBUG off; DJANGO_DEBUG=1 make run for development)"; \
	else echo "Serving http://$(HOST):$(PORT)/ (DJANGO_DEBUG=$$DJANGO_DEBUG)"; fi
	@if [ -n "$$CELERY_BROKER_URL" ]; then \
	  echo "Broker configured: starting a Celery worker (with the beat sweeper) beside the site"; \
	  $(VENV)/bin/celery -A petsite worker -B -Q celery,jobs --loglevel=INFO & \
	  trap "kill $$! 2>/dev/null" EXIT INT TERM; \
	  $(SERVE); \
	else \
	  echo "No CELERY_BROKER_URL: uploads are classified on an in-process worker thread"; \
	  exec $(SERVE); \
	fi

worker: venv
	$(VENV)/bin/celery -A petsite worker -Q celery,jobs --loglevel=INFO

test: venv system-deps
	$(PY) -m pytest

# Benchmarks that print tables: dataset build, models (seed vs default), serving path.
bench: venv
	$(PY) bench/bench_dataset.py
	$(PY) bench/serving.py $(BENCH_SERVING_ARGS)

# Fault and load suite (real gunicorn, Celery worker + beat, its own Redis and PostgreSQL on 127.0.0.1).
# Options: make bench-faults BENCH_FAULTS_ARGS="--uploads 200 --model path/to/model.keras"
bench-faults: venv
	$(PY) bench/faults.py $(BENCH_FAULTS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
