"""pytest fixtures for the simulator, and a fresh Airflow home for `dag.test()`.

The plugin is opt-in (installing the provider does not load it into every pytest run):
``pytest_plugins = ["clinical_rules_provider.testing.pytest_plugin"]`` in the rootdir's
``conftest.py``, or ``-p clinical_rules_provider.testing.pytest_plugin``.

Imports happen inside fixtures so merely loading the plugin costs nothing.

* in-process: `sim_clock` -> `sim_state` -> `simulator_app` -> `simulator_async_transport`
* loopback: `live_simulator` (one server per session) -> `simulator` (reset per test)
* Airflow: `airflow_db` (a migrated metadata database, once per session)

`dag.test()` needs three things that must be in place before Airflow is first imported
(Airflow reads them once, at import): ``AIRFLOW_HOME``, a metadata database migrated in it,
and ``[core] dags_folder`` holding the DAG's file (Airflow 3.1+ writes the DAG to the
database by parsing that folder; elsewhere it fails with "the dag is not serialized").
With the ini option ``clinical_rules_airflow_home = fresh`` the plugin sets the first and
the third when pytest starts (``clinical_rules_dags_folder``, relative to the rootdir), and
the `airflow_db` fixture migrates the database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

    from clinical_rules_provider.testing.clock import ManualClock
    from clinical_rules_provider.testing.server import LiveSimulator
    from clinical_rules_provider.testing.state import SimulatorState


@pytest.fixture
def sim_clock() -> ManualClock:
    """A manual clock starting now; advance it to move rule jobs along."""
    from clinical_rules_provider.testing.clock import ManualClock

    return ManualClock()


@pytest.fixture
def sim_state(sim_clock: ManualClock) -> SimulatorState:
    """A freshly seeded state on `sim_clock`."""
    from clinical_rules_provider.testing.state import SimulatorState

    return SimulatorState(clock=sim_clock)


@pytest.fixture
def simulator_app(sim_state: SimulatorState) -> Starlette:
    """The Starlette app over `sim_state`."""
    from clinical_rules_provider.testing.app import create_app

    return create_app(sim_state)


@pytest.fixture
def simulator_async_transport(simulator_app: Starlette) -> httpx.ASGITransport:
    """In-process transport for `httpx.AsyncClient(transport=..., base_url="http://sim")`."""
    import httpx

    return httpx.ASGITransport(app=simulator_app)


@pytest.fixture(scope="session")
def live_simulator() -> Iterator[LiveSimulator]:
    """One uvicorn simulator on 127.0.0.1 for the whole session (real-time clock)."""
    from clinical_rules_provider.testing.server import LiveSimulator

    with LiveSimulator() as simulator:
        yield simulator


@pytest.fixture
def simulator(live_simulator: LiveSimulator) -> LiveSimulator:
    """The session's live simulator with freshly seeded state and no faults."""
    live_simulator.state.reset()
    live_simulator.state.faults.clear()
    return live_simulator


# --- a fresh Airflow home for dag.test() ---------------------------------------------------

_HOME_INI = "clinical_rules_airflow_home"
_DAGS_INI = "clinical_rules_dags_folder"
_CREATED_HOME = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ini options that make the plugin prepare an Airflow home."""
    parser.addini(
        _HOME_INI,
        "'fresh': run the session in a new temporary AIRFLOW_HOME (set before Airflow is imported)",
        default="",
    )
    parser.addini(_DAGS_INI, "[core] dags_folder for the session, relative to the rootdir", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Point Airflow at a new home and the DAGs folder before any test module imports it."""
    mode = str(config.getini(_HOME_INI)).strip().lower()
    dags = str(config.getini(_DAGS_INI)).strip()
    if mode not in ("", "fresh"):
        raise pytest.UsageError(f"{_HOME_INI} must be 'fresh' or empty, got {mode!r}")
    if not mode and not dags:
        return
    if "airflow" in sys.modules:
        raise pytest.UsageError(
            f"{_HOME_INI}/{_DAGS_INI}: Airflow was imported before the plugin could configure it; "
            "load the plugin from the rootdir conftest.py (pytest_plugins) or with -p, and do not "
            "import Airflow at the top of that conftest.py"
        )
    if mode == "fresh":
        home = tempfile.mkdtemp(prefix="airflow-home-")
        config.stash[_CREATED_HOME] = home
        os.environ["AIRFLOW_HOME"] = home
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if dags:
        os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str((config.rootpath / dags).resolve())


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the home `pytest_configure` created."""
    home = config.stash.get(_CREATED_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """``airflow db migrate`` once per session in the current ``AIRFLOW_HOME``; its path.

    Runs in a subprocess (SQLite, about 5-20 s) so this process's Airflow settings are not
    touched; request it from tests that call `dag.test()`.
    """
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME)
