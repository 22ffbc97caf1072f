# bundlestream: the two commands of the README and their building blocks.
#   make demo   local Kafka + Redis, then the live demo on a real order history
#   make test   local Kafka + Redis, then every unit and integration test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# The project's packages (pyproject.toml lists the same ones for setuptools and mypy).
PACKAGES := core agents security topics models deploy bundlestream ingest bundling composite \
            popularity webhooks evaluation

.PHONY: venv up demo test unit lint down status topics

venv: $(STAMP)

# Reinstall only when the project's metadata changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,eval,lint]'
	touch $(STAMP)

up: venv
	$(BIN)/bundlestream dev up

demo: venv
	$(BIN)/bundlestream dev up --topics
	$(BIN)/bundlestream demo

test: up
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Every broker-free test: no Kafka, no Redis.
unit: venv
	$(BIN)/python -m pytest -q tests/unit $(PYTEST_ARGS)

# Lint, format, the import layers (see [tool.importlinter] in pyproject.toml), dead code and
# types. vulture_whitelist.py names what only a framework uses (Faust signals, side-effect imports).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/vulture $(PACKAGES) vulture_whitelist.py --min-confidence 80
	$(BIN)/mypy

topics: up
	$(BIN)/bundlestream topics create

status: venv
	$(BIN)/bundlestream dev status

down:
	@if [ -x $(BIN)/bundlestream ]; then $(BIN)/bundlestream dev down; else echo "no venv: nothing to stop"; fi
