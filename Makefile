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

run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py register_shipped_model
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
