# serving-chaos: `make demo` runs the main job, `make test` runs every check.
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/.tools/bin:$(PATH)

SCENARIO ?= suites/scenarios/feature_store_latency.yaml
REPORT_DIR ?= reports/demo

.PHONY: provision provision-core demo test lint types unit plugin integration suites clean

provision:
	@bash scripts/provision.sh

# The process backend needs no Docker: the demo does not wait for the engine and images.
provision-core:
	@bash scripts/provision.sh core

demo: provision-core
	$(BIN)/serving-chaos run $(SCENARIO) --backend process --report-dir $(REPORT_DIR)

# The unit and plugin tiers on two workers; the integration tier and the shipped suites, whose
# runs hold real schedules and latency budgets, in one process with the machine to themselves.
test: provision lint types
	$(BIN)/python -m pytest -n 2 tests/unit tests/plugin --durations=10
	$(BIN)/python -m pytest tests/integration suites --durations=25

lint: provision
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: provision
	$(BIN)/mypy

unit: provision
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf reports .mypy_cache .ruff_cache .pytest_cache
