"""Last (file order): Ctrl-C stops the stack and every process it started. Nothing survives."""

from __future__ import annotations

import pytest

from tests.stack.client import StackProcess, ctrl_c_leaves_nothing

pytestmark = pytest.mark.stack


def test_ctrl_c_stops_every_process_the_stack_started(stack_process: StackProcess) -> None:
    commands = ctrl_c_leaves_nothing(stack_process, timeout=90)
    assert len(commands) >= 5  # simulator + 4 Airflow components, and their workers
