"""Last (file order): Ctrl-C stops the stack and every process it started. Nothing survives."""

from __future__ import annotations

import psutil
import pytest

from tests.stack.client import StackProcess, wait_until

pytestmark = pytest.mark.stack


def test_ctrl_c_stops_every_process_the_stack_started(stack_process: StackProcess) -> None:
    family, names = [], {}
    for process in stack_process.family():
        try:
            names[process.pid] = " ".join(process.cmdline()[:3])
            family.append(process)
        except psutil.Error:  # exited (a zombie until reaped) since it was listed
            pass
    assert len(family) >= 5  # simulator + 4 Airflow components, and their workers
    assert stack_process.stop(timeout=90) == 0

    def survivors() -> list[str]:
        alive = []
        for process in family:
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(names[process.pid])
            except psutil.NoSuchProcess:
                pass
        return alive

    try:
        wait_until("every process of the stack to exit", lambda: not survivors(), timeout=10, every=0.5)
    except TimeoutError:
        pytest.fail(f"still running after Ctrl-C: {survivors()}")
