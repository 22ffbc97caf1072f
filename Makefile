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

.PHONY: venv lock up demo test unit lint down status topics

venv: $(STAMP)

# Reinstall only when the project's metadata or the lock changed. Every package comes from the
# lock, hash-checked; the project itself is installed on top without resolving anything.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# Re-resolve the lock after a dependency change in pyproject.toml (versions installed in the
# venv are kept where they still fit, so the lock moves only where it has to).
lock: venv
	$(BIN)/pip freeze --exclude-editable > $(VENV)/constraints.txt
	$(BIN)/uv pip compile pyproject.toml --extra test --extra eval --extra lint \
	  -c $(VENV)/constraints.txt --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line \
	  -o requirements.lock
	sed -i -E 's/,? -c $(VENV)\/constraints\.txt//; /^ *# via$$/d' requirements.lock

up: venv
	$(BIN)/bundlestream dev up

demo: venv
	$(BIN)/bundlestream dev up --topics
	$(BIN)/bundlestream demo

test: up
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Every broker-free test: no Kafka, no Redis. One process per core (pytest-xdist), each taking
# whole test files (module-scoped fixtures are built once) in collection order, which puts the
# slow files reading ../shared/data first (tests/unit/conftest.py). Property tests try a quarter
# of their examples here (tests/examples.py), and the few tests marked slow (whole real files
# compared twice, several processes) are left out; `make test` (CI) runs them all, in full.
unit: venv
	BUNDLESTREAM_TEST_EXAMPLES_SCALE=0.25 $(BIN)/python -m pytest -q -n auto --dist loadfile \
		--no-loadscope-reorder -m "not slow" tests/unit $(PYTEST_ARGS)

# Lint, format, the import layers (see [tool.importlinter] in pyproject.toml), dead code and
# types. vulture_whitelist.py names what only a framework uses (Faust signals, side-effect imports).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/vulture $(PACKAGES) vulture_whitelist.py --min-confidence 80
	$(BIN)/mypy
	.ci/check-commit-subjects

topics: up
	$(BIN)/bundlestream topics create

status: venv
	$(BIN)/bundlestream dev status

down:
	@if [ -x $(BIN)/bundlestream ]; then $(BIN)/bundlestream dev down; else echo "no venv: nothing to stop"; fi
