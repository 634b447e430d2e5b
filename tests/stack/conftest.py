"""One real stack (``scripts/stack.py``) for the whole ``make stack-test`` session.

It is started once, in its own session, and stopped like Ctrl-C at the end, by atexit too,
so a failing (or interrupted) test run never leaves Airflow running.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack.client import ROOT, StackProcess
from tests.stack.fixtures import airflow, session_stack, stack_state

__all__ = ["airflow", "stack_process", "stack_state"]
HOME = ROOT / ".stack-test"


@pytest.fixture(scope="session")
def stack_process() -> Iterator[StackProcess]:
    yield from session_stack(HOME)
