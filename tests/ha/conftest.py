"""One distributed stack (``scripts/stack_ha.py --no-restart``) for the whole ``make ha-test``.

Started once in its own session and stopped like Ctrl-C at the end (atexit too), so a failing
or interrupted run never leaves Airflow, Postgres or Redis running. A component a test kills
stays down: the other scheduler, triggerer or worker has to carry on alone. Besides its own
DAGs it loads two of ``tests/stack/dags`` (the same deferred sensor and durable publish).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack.client import DAGS as STACK_DAGS
from tests.stack.client import ROOT, StackProcess
from tests.stack.fixtures import airflow, session_stack, stack_state

__all__ = ["airflow", "stack_process", "stack_state"]
HOME = ROOT / ".stack-ha-test"
DAGS = Path(__file__).resolve().parent / "dags"
SHARED_DAGS = (STACK_DAGS / "stack_deferred_sensor.py", STACK_DAGS / "stack_durable_publish.py")


@pytest.fixture(scope="session")
def stack_process() -> Iterator[StackProcess]:
    yield from session_stack(HOME, script="stack_ha.py", dags=(DAGS, *SHARED_DAGS))
