# The README's commands. Each creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: run test ui bench lint format demo-data clean

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

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

ui: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.plan_benchmark
	$(BIN)/python -m benchmarks.learning_benchmark

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo-data: $(VENV)/.installed
	$(BIN)/python data/demo/make_demo_data.py

clean:
	rm -rf .rostersync .dagster_home
