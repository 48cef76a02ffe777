# One command each: `make setup`, `make up`, `make test`, `make down`.
# Every target that needs the virtualenv or the Kafka jars depends on `setup`, which only
# does work when requirements.txt, pyproject.toml or services/kafka/pom.xml changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOSPITAL := $(VENV)/bin/hospital
KAFKA_LIBS := .local/kafka/libs

.PHONY: help setup up down test test-unit compose-test demo full chaos bench brief deliverables clean samples

help:
	@echo "make setup  - create .venv, install Python packages and fetch the Kafka jars (idempotent)"
	@echo "make up     - start local PostgreSQL and Kafka; settings land in .local/env"
	@echo "make down   - stop them"
	@echo "make test   - start the services, run every test, stop the services"
	@echo "make compose-test - docker compose up for real (Compose v2 on Podman, images built here), a"
	@echo "             short window with a down/up mid-way, exact counts; apart from make up's ports"
	@echo "make demo   - the 9-day window at a small volume (100k people, 200 MB), a few minutes; prints the status"
	@echo "make full   - the assessed scale: 5,000,000 people, 9 days, about 5 GB"
	@echo "             (both resume after Ctrl-C; add RUN_ARGS=--fresh to empty the warehouse first)"
	@echo "make chaos  - the 9-day window under kill -9s, PostgreSQL/Kafka restarts and 72 bad inputs; ends"
	@echo "             with one CHAOS PASS/FAIL line (exit 1 on FAIL); CHAOS_ARGS=--seed N repeats a schedule"
	@echo "make samples - cut small committed samples (samples/) from a finished run"
	@echo "make bench  - run every benchmark in bench/ (each prints a BENCH line with its ratio)"
	@echo "make brief  - rebuild project_brief.pdf from docs/brief.md and docs/results.json"
	@echo "make deliverables - zip the deliverables into dist/ (CSVs from DATA_DIR, default data/full)"
	@echo "make clean  - stop the services and delete their data, .local/ and .venv/"

setup: $(VENV)/.installed $(KAFKA_LIBS)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(KAFKA_LIBS)/.installed: services/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) and Java 17+ are needed to fetch the Kafka jars" >&2; exit 1; }
	rm -rf $(KAFKA_LIBS)
	mvn --batch-mode --quiet -f services/kafka/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS) -DincludeScope=runtime
	@touch $@

up: setup
	$(HOSPITAL) services up

down:
	@if [ -x $(HOSPITAL) ]; then $(HOSPITAL) services down; else echo "nothing to stop (no .venv)"; fi

# The services are stopped whether or not the tests pass; the tests' exit status is kept.
test: setup
	@status=0; \
	$(HOSPITAL) services up && $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	$(HOSPITAL) services down; \
	exit $$status

test-unit: setup
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# docker-compose.yml for real (hospital/local/compose.py): installs Podman if missing, builds Docker
# Compose v2 once into ~/.cache/jhb-hospital, builds the images, runs a short window. The stack and
# the Podman service are stopped whatever happens, also after the overall timeout (seconds).
COMPOSE_TEST_TIMEOUT ?= 2700

compose-test: setup
	@status=0; \
	COMPOSE_TEST_TIMEOUT=$(COMPOSE_TEST_TIMEOUT) timeout --kill-after=60 $$(( $(COMPOSE_TEST_TIMEOUT) + 300 )) \
	    $(PY) -m pytest tests/compose --noconftest -p no:cacheprovider -s $(PYTEST_ARGS) || status=$$?; \
	$(PY) -m hospital.local.compose stop; \
	exit $$status

# The window end to end. Demo and full keep their files apart (data/demo, data/full); the
# warehouse holds one run at a time, so switching between them needs RUN_ARGS=--fresh.
DEMO_ARGS := --people 100000 --target-size 200MB --speed 8640
FULL_ARGS := --people 5000000 --target-size 5GB --speed 0

demo: up
	DATA_DIR=data/demo $(HOSPITAL) run $(DEMO_ARGS) $(RUN_ARGS)
	DATA_DIR=data/demo $(HOSPITAL) status --json

full: up
	DATA_DIR=data/full $(HOSPITAL) run $(FULL_ARGS) $(RUN_ARGS)
	DATA_DIR=data/full $(HOSPITAL) status --json

# Fault injection (hospital/chaos.py): its own database (hospital_chaos), topics and data/chaos,
# emptied at every start, so it never touches the demo's or the full run's warehouse. A few minutes.
CHAOS_DEFAULTS := --people 20000 --target-size 150MB --speed 3600

chaos: up
	$(HOSPITAL) chaos $(CHAOS_DEFAULTS) $(CHAOS_ARGS)

# Small committed samples (the first 1,000 rows of each generated CSV and one batch tick's files),
# cut from a finished run: make samples SAMPLES_FROM=data/full (or data/demo).
SAMPLES_FROM ?= data/full
SAMPLE_TICK ?= t0400

samples:
	@test -f $(SAMPLES_FROM)/people.csv || { echo "no $(SAMPLES_FROM)/people.csv: run make full (or make demo SAMPLES_FROM=data/demo) first" >&2; exit 1; }
	@mkdir -p samples/batch
	for name in people hospital_patients staff doctors assigned_staff; do \
	    head -n 1001 $(SAMPLES_FROM)/$$name.csv > samples/$$name.csv; done
	for file in $(SAMPLES_FROM)/archive/*_$(SAMPLE_TICK).csv; do \
	    head -n 101 $$file > samples/batch/$$(basename $$file); done

# Each benchmark ends with one line: BENCH <name> <metric>=<value> ... ratio=<x>
bench: up
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit $$?; done

# The PDF is committed; its sources are docs/brief.md, docs/results.json and the charts it draws.
brief: setup
	$(PY) docs/build_brief.py --out project_brief.pdf

# The CSVs come from DATA_DIR (default data/full, what `make full` writes): for the demo's,
# `make deliverables DATA_DIR=data/demo`. Stops with a list of what is missing.
deliverables: DATA_DIR ?= data/full
deliverables: setup
	$(HOSPITAL) deliverables --data-dir $(DATA_DIR) --out dist/hospital-pipeline-deliverables.zip

clean: down
	@if [ -L .local/postgres ]; then rm -rf "$$(readlink .local/postgres)"; fi
	rm -rf .local $(VENV)
