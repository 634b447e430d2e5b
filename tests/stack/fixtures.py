"""The fixtures ``tests/stack`` and ``tests/ha`` share: one stack per session, its state, and
a REST client with the simulator's job timings reset around each test.

Each conftest defines ``stack_process`` with :func:`session_stack` (its home, script and DAGs)
and imports the other two fixtures from here.
"""

from __future__ import annotations

import atexit
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack.client import Airflow, StackProcess


def session_stack(home: Path, **options: Any) -> Iterator[StackProcess]:
    """Start a stack in ``home`` (emptied first) and stop it like Ctrl-C at the end, by atexit
    too, so a failing or interrupted run never leaves it running."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    process = StackProcess(home, **options)
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
