"""One real stack (``scripts/stack.py``) for the whole ``make stack-test`` session.

It is started once, in its own session, and stopped like Ctrl-C at the end, by atexit too,
so a failing (or interrupted) test run never leaves Airflow running.
"""

from __future__ import annotations

import atexit
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.stack.client import ROOT, Airflow, StackProcess

HOME = ROOT / ".stack-test"


@pytest.fixture(scope="session")
def stack_process() -> Iterator[StackProcess]:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    process = StackProcess(HOME)
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
