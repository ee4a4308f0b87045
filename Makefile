# The README's commands. Each creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: run test ui bench lint format demo-data clean chromium daemon webserver

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

run: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/rostersync sync
	$(BIN)/python -m rostersync_pipelines.learning.demo

# the browser test drives Debian's headless Chromium; where it cannot be installed that test skips, saying why
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium could not be installed: the browser test will be skipped"

test: $(VENV)/.installed-test chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

ui: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

# schedules and sensors run only while a daemon runs (`make ui` runs one inside `dagster dev`)
daemon: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster-daemon run -w workspace.yaml

webserver: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster-webserver -w workspace.yaml -h 127.0.0.1 -p 3000

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.plan_benchmark
	$(BIN)/python -m benchmarks.cli_benchmark
	$(BIN)/python -m benchmarks.learning_benchmark
	$(BIN)/python -m benchmarks.salesforce_source_benchmark
	$(BIN)/python -m benchmarks.entra_benchmark
	$(BIN)/python -m benchmarks.talentlms_benchmark
	$(BIN)/python -m benchmarks.ispring_benchmark

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo-data: $(VENV)/.installed
	$(BIN)/python data/demo/make_demo_data.py

clean:
	rm -rf .rostersync .dagster_home
