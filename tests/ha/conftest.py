"""One distributed stack (``scripts/stack_ha.py --no-restart``) for the whole ``make ha-test``.

Started once in its own session and stopped like Ctrl-C at the end (atexit too), so a failing
or interrupted run never leaves Airflow, Postgres or Redis running. A component a test kills
stays down: the other scheduler or triggerer has to carry on alone.
"""

from __future__ import annotations

import atexit
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack.client import ROOT, Airflow, StackProcess

HOME = ROOT / ".stack-ha-test"
DAGS = Path(__file__).resolve().parent / "dags"


@pytest.fixture(scope="session")
def stack_process() -> Iterator[StackProcess]:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    process = StackProcess(HOME, script="stack_ha.py", dags=(DAGS,))
    atexit.register(process.stop)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def stack_state(stack_process: StackProcess) -> dict[str, Any]:
    return stack_process.state()


@pytest.fixture
def airflow(stack_state: dict[str, Any]) -> Iterator[Airflow]:
    client = Airflow(stack_state)
    client.sim_settings(pending_seconds=0.5, running_seconds=1.5)
    yield client
    client.sim_settings(pending_seconds=0.5, running_seconds=1.5)
    client.http.close()
