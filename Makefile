# Every target installs what it needs into .venv; a fresh machine needs only Python 3.10+ and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export PYTHONDONTWRITEBYTECODE := 1

# Reproducible installs: development and CI install from a lock (constraints file) per Airflow
# version the project tests, as Airflow itself does (docs/installs.md).
# `make lock` regenerates them; `make test-latest` tries the newest releases without them.
PY_VERSION          := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
AIRFLOW_DEV_VERSION := 3.3.2
# The latest patch of each older minor release; CI runs the oldest (make compat), the rest run in
# `make compat-matrix` (about 10 min each on 2 cores: too long for CI beside the stack tests).
COMPAT_VERSIONS     := 3.0.6 3.1.8 3.2.2
LOCK                := constraints/airflow-$(AIRFLOW_DEV_VERSION)-py$(PY_VERSION).txt
DEV_EXTRAS          := test,lint,docs,dist,openlineage
LOCK_EXTRAS         := $(DEV_EXTRAS),ui
# Tools targets install by themselves: the benchmarks' HTTP provider, release-check's twine,
# the distributed stack's Celery and Postgres providers.
LOCK_ALSO           := apache-airflow-providers-http twine apache-airflow-providers-celery apache-airflow-providers-postgres
# pip reads PIP_CONSTRAINT in every call, the tests' own pip calls (wheel and doc-snippet venvs,
# builds) included: `$(call locked,FILE) command` runs a command under that lock.
locked = PIP_CONSTRAINT=$(abspath $(1))
seed   = $(if $(wildcard compat/airflow-$(1).txt),--seed compat/airflow-$(1).txt)
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(wildcard $(LOCK)) | cksum | cut -d' ' -f1)

.PHONY: install demo test lint compat bench reliability docs ui-check dist clean up stack-test \
	lock lock-verify test-latest compat-matrix release-check up-ha ha-test ha-install mutation

constraints/airflow-%.txt:
	@echo "make: $@ is missing: no lock for this Airflow and Python $(PY_VERSION). Run 'make lock'" \
		"(see docs/installs.md)." >&2; exit 1

$(BIN)/python: | $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(call locked,$(LOCK)) $(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(call locked,$(LOCK)) $(BIN)/pip install -q -e '.[$(DEV_EXTRAS)]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: install
	$(call locked,$(LOCK)) $(BIN)/python scripts/demo.py

test: install
	$(call locked,$(LOCK)) $(BIN)/python -m pytest -q -p no:cacheprovider --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check provider tests example_dags scripts reliability benchmarks
	$(BIN)/ruff format --check provider tests example_dags scripts reliability benchmarks
	$(BIN)/mypy

# The test suite against another Airflow release, in its own venv (default: the oldest
# supported one), installed from that release's lock.
AIRFLOW_VERSION ?= 3.0.6
COMPAT_VENV := .venv-airflow-$(AIRFLOW_VERSION)
COMPAT_LOCK := constraints/airflow-$(AIRFLOW_VERSION)-py$(PY_VERSION).txt

compat: $(COMPAT_LOCK)
	test -x $(COMPAT_VENV)/bin/python || $(PYTHON) -m venv $(COMPAT_VENV)
	$(call locked,$(COMPAT_LOCK)) $(COMPAT_VENV)/bin/pip install -q --upgrade pip
	$(call locked,$(COMPAT_LOCK)) $(COMPAT_VENV)/bin/pip install -q "apache-airflow==$(AIRFLOW_VERSION)" -e '.[test]'
	$(COMPAT_VENV)/bin/python scripts/lock.py verify --lock $(COMPAT_LOCK) --python $(COMPAT_VENV)/bin/python
	AIRFLOW_HOME=$(CURDIR)/.airflow-$(AIRFLOW_VERSION) $(call locked,$(COMPAT_LOCK)) \
		$(COMPAT_VENV)/bin/python -m pytest -q -p no:cacheprovider --ignore=tests/test_distribution.py $(PYTEST_ARGS)

# The suite on every Airflow minor release the project supports, each from its lock.
compat-matrix:
	$(foreach v,$(COMPAT_VERSIONS),$(MAKE) compat AIRFLOW_VERSION=$(v) &&) true

# Regenerate every lock from the newest releases (bounded only by compat/airflow-<v>.txt seed
# pins). Run `make test-latest` first: it shows what the new lock would break.
lock:
	$(PYTHON) scripts/lock.py generate --airflow $(AIRFLOW_DEV_VERSION) --extras $(LOCK_EXTRAS) \
		--also $(LOCK_ALSO) $(call seed,$(AIRFLOW_DEV_VERSION)) --out $(LOCK)
	$(foreach v,$(COMPAT_VERSIONS),$(PYTHON) scripts/lock.py generate --airflow $(v) --extras test \
		$(call seed,$(v)) --out constraints/airflow-$(v)-py$(PY_VERSION).txt &&) true

# Fails when .venv holds anything the lock does not pin at that exact version (CI runs it).
lock-verify: install
	$(BIN)/python scripts/lock.py verify --lock $(LOCK) --python $(BIN)/python

# The suite on the newest releases, without the lock, in a fresh venv: drift shows here before
# it reaches a lock (not part of CI; see docs/installs.md).
LATEST_VENV := .venv-latest
test-latest:
	rm -rf $(LATEST_VENV) && $(PYTHON) -m venv $(LATEST_VENV)
	env -u PIP_CONSTRAINT $(LATEST_VENV)/bin/pip install -q --upgrade pip
	env -u PIP_CONSTRAINT $(LATEST_VENV)/bin/pip install -q --upgrade -e '.[test]'
	-$(LATEST_VENV)/bin/python scripts/lock.py verify --report --lock $(LOCK) --python $(LATEST_VENV)/bin/python
	AIRFLOW_HOME=$(CURDIR)/.airflow-latest env -u PIP_CONSTRAINT \
		$(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# A real local Airflow (api-server, scheduler, dag-processor, triggerer; SQLite, LocalExecutor)
# in .stack/ beside the simulator, example DAGs loaded; Ctrl-C stops all of it.
up: install
	$(call locked,$(LOCK)) $(BIN)/python scripts/stack.py $(STACK_ARGS)

# The stack tests start their own stack (in .stack-test/, free ports) and stop it at the end.
stack-test: install
	$(call locked,$(LOCK)) $(BIN)/python -m pytest -q -p no:cacheprovider -m stack tests/stack $(PYTEST_ARGS)

# Past one machine (issue 25): Postgres and Redis (Debian packages, installed here if missing;
# started as throw-away instances of the stack itself), CeleryExecutor with two workers, two
# schedulers, two triggerers; Ctrl-C stops all of it, databases included.
HA_PROVIDERS := apache-airflow-providers-celery apache-airflow-providers-postgres

ha-install: install
	@test -x "$$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1)" && command -v redis-server >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq postgresql redis-server)
	$(call locked,$(LOCK)) $(BIN)/pip install -q $(HA_PROVIDERS)

up-ha: ha-install
	$(call locked,$(LOCK)) $(BIN)/python scripts/stack_ha.py $(STACK_ARGS)

# Kills a triggerer, a scheduler and a Celery worker (mid-publish) of that stack (in
# .stack-ha-test/) and checks the guarantees; leaves no process running.
ha-test: ha-install
	$(call locked,$(LOCK)) $(BIN)/python -m pytest -q -p no:cacheprovider -m ha tests/ha $(PYTEST_ARGS)

reliability: install
	$(call locked,$(LOCK)) $(BIN)/python -m reliability.run --runs 100 --fault-rate 0.2 --fuzz 1000

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: install
	$(call locked,$(LOCK)) $(BIN)/python benchmarks/run.py

ui-check: install
	$(call locked,$(LOCK)) $(BIN)/pip install -q -e '.[ui]'
	$(call locked,$(LOCK)) $(BIN)/python scripts/ui_check.py

# Only `build` is needed for the wheel and sdist (not the test, lint or docs toolchain).
dist: $(BIN)/python
	$(call locked,$(LOCK)) $(BIN)/pip install -q 'build>=1.2'
	rm -rf dist && $(BIN)/python -m build --outdir dist .

# What a release publishes, checked: sdist + wheel built, `twine check --strict`, then each
# installed into a fresh venv of its own and imported (scripts/release_check.py). Its tools
# live in their own venv (.venv-release), not in .venv; every install is under the lock.
# RELEASE_PIP_ARGS: extra pip install arguments for those fresh venvs (--pip-arg=...).
RELEASE_VENV ?= .venv-release
RELEASE_PIP_ARGS ?=

release-check: | $(LOCK)
	test -x $(RELEASE_VENV)/bin/python || $(PYTHON) -m venv $(RELEASE_VENV)
	$(call locked,$(LOCK)) $(RELEASE_VENV)/bin/pip install -q --upgrade pip 'build>=1.2' 'twine>=5'
	rm -rf dist && $(call locked,$(LOCK)) $(RELEASE_VENV)/bin/python -m build --outdir dist .
	$(RELEASE_VENV)/bin/twine check --strict dist/*
	$(call locked,$(LOCK)) $(RELEASE_VENV)/bin/python scripts/release_check.py dist $(RELEASE_PIP_ARGS)

# Mutation testing of clients/, job_watch.py and the publish state store (docs/mutation-testing.md),
# not part of CI: mutmut (pinned in mutation/requirements.txt) in its own venv on the lock, so
# .venv and lock-verify never see it. Writes mutation/results.json and the results section of
# the docs page; fails on an unexplained surviving mutant or a kill rate under 85 %.
# MUTATION_ARGS: e.g. --jobs 4, or --only 'clinical_rules_provider.clients.vault.*'.
MUTATION_VENV ?= .venv-mutation
MUTATION_ARGS ?=

mutation: | $(LOCK)
	test -x $(MUTATION_VENV)/bin/python || $(PYTHON) -m venv $(MUTATION_VENV)
	$(call locked,$(LOCK)) $(MUTATION_VENV)/bin/pip install -q --upgrade pip
	$(call locked,$(LOCK)) $(MUTATION_VENV)/bin/pip install -q -e '.[test]' -r mutation/requirements.txt
	$(MUTATION_VENV)/bin/python scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(MUTATION_VENV) .mutation .airflow .airflow-latest .stack .stack-test .stack-test.out .stack-ha .stack-ha-test .stack-ha-test.out .coverage build dist
