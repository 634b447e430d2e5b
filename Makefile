# Every target installs what it needs into .venv; a fresh machine needs only Python 3.10+ and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install demo test lint compat bench reliability docs ui-check dist clean up stack-test release-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test,lint,docs,dist]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check provider tests example_dags scripts reliability benchmarks
	$(BIN)/ruff format --check provider tests example_dags scripts reliability benchmarks
	$(BIN)/mypy

# The test suite against another Airflow release, in its own venv (default: the oldest
# supported one). compat/airflow-<version>.txt, if present, pins what that release needs.
AIRFLOW_VERSION ?= 3.0.6
COMPAT_VENV := .venv-airflow-$(AIRFLOW_VERSION)
COMPAT_PINS := $(wildcard compat/airflow-$(AIRFLOW_VERSION).txt)

compat:
	test -x $(COMPAT_VENV)/bin/python || $(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/pip install -q "apache-airflow==$(AIRFLOW_VERSION)" -e '.[test]' $(if $(COMPAT_PINS),-c $(COMPAT_PINS))
	AIRFLOW_HOME=$(CURDIR)/.airflow-$(AIRFLOW_VERSION) $(COMPAT_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		--ignore=tests/test_distribution.py $(PYTEST_ARGS)

# A real local Airflow (api-server, scheduler, dag-processor, triggerer; SQLite, LocalExecutor)
# in .stack/ beside the simulator, example DAGs loaded; Ctrl-C stops all of it.
up: install
	$(BIN)/python scripts/stack.py $(STACK_ARGS)

# The stack tests start their own stack (in .stack-test/, free ports) and stop it at the end.
stack-test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m stack tests/stack $(PYTEST_ARGS)

reliability: install
	$(BIN)/python -m reliability.run --runs 100 --fault-rate 0.2 --fuzz 1000

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: install
	$(BIN)/python benchmarks/run.py

ui-check: install
	$(BIN)/pip install -q -e '.[ui]'
	$(BIN)/python scripts/ui_check.py

# Only `build` is needed for the wheel and sdist (not the test, lint or docs toolchain).
dist: $(BIN)/python
	$(BIN)/pip install -q 'build>=1.2'
	rm -rf dist && $(BIN)/python -m build --outdir dist .

# What a release publishes, checked: sdist + wheel built, `twine check --strict`, then each
# installed into a fresh venv of its own and imported (scripts/release_check.py). Its tools
# live in their own venv (.venv-release), not in .venv. RELEASE_PIP_ARGS: extra pip install
# arguments for those fresh venvs (e.g. --pip-arg=-c --pip-arg=<constraints file>).
RELEASE_VENV ?= .venv-release
RELEASE_PIP_ARGS ?=

release-check:
	test -x $(RELEASE_VENV)/bin/python || $(PYTHON) -m venv $(RELEASE_VENV)
	$(RELEASE_VENV)/bin/pip install -q --upgrade pip 'build>=1.2' 'twine>=5'
	rm -rf dist && $(RELEASE_VENV)/bin/python -m build --outdir dist .
	$(RELEASE_VENV)/bin/twine check --strict dist/*
	$(RELEASE_VENV)/bin/python scripts/release_check.py dist $(RELEASE_PIP_ARGS)

clean:
	rm -rf $(VENV) .airflow .stack .stack-test .stack-test.out .coverage build dist
