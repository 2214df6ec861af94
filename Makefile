# Self-documenting: `make` or `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
VENV := .venv
BIN := $(VENV)/bin
SYNCED := $(VENV)/.synced
# keep every tool's state inside the project and every tool quiet and offline
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90
export BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_DO_NOT_TRACK := true
export GX_ANALYTICS_ENABLED := false

.PHONY: help env demo train test lint fmt typecheck unit integration test-tools mlflow-ui benchmark stack-up stack-down clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(SYNCED): pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

env: $(SYNCED) ## create .venv from uv.lock (installs uv when missing)

demo: env ## the whole loop on embedded defaults: train, serve, drift, retrain, shadow, A/B, decision
	$(BIN)/mlops demo

train: env ## the training flow only: DVC stages, MLflow tracking, gate, registry, package
	$(BIN)/mlops train

test: env test-tools ## lint, format check, import contracts, types, then every test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: env ## ruff, import contracts and mypy only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

fmt: env ## format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: env ## fast tests only (no integration, no e2e)
	$(BIN)/python -m pytest -m "not integration and not e2e"

integration: env test-tools ## integration and end-to-end tests only
	$(BIN)/python -m pytest -m "integration or e2e"

test-tools: ## Prometheus, promtool and the Pushgateway for the infra tests (apt, when missing)
	@command -v prometheus >/dev/null && command -v prometheus-pushgateway >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q \
		&& $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus prometheus-pushgateway; }

mlflow-ui: env ## browse runs and the registry at http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

benchmark: env ## pipeline, scoring, serving, drift and Dask scale-out benchmarks (JSON each; minutes)
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/scale_out.py

STACK := docker compose -f infra/docker-compose.yml --env-file infra/.env

stack-up: ## production profile on this host: compose stack up, healthy (needs infra/.env)
	@test -f infra/.env || { echo "infra/.env missing: cp infra/.env.example infra/.env, then set its values" >&2; exit 1; }
	$(STACK) up -d --build --wait

stack-down: ## stop the compose stack (its named volumes are kept)
	$(STACK) down

clean: ## remove tool state and pipeline outputs (DVC cache and MLflow store are kept)
	rm -rf .pytest_cache .ruff_cache .mypy_cache data/raw data/validated data/features data/split \
		models plots reports/figures reports/validation_docs quarantine
