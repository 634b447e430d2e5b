"""Last (file order): Ctrl-C stops every process the HA stack started, Postgres and Redis
included, and removes their throw-away data. Nothing survives."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from tests.stack.client import StackProcess, wait_until

pytestmark = pytest.mark.ha


def test_ctrl_c_stops_every_process_and_both_databases(stack_process: StackProcess) -> None:
    family, names = [], {}
    for process in stack_process.family():
        try:
            names[process.pid] = " ".join(process.cmdline()[:3])
            family.append(process)
        except psutil.Error:  # exited (a zombie until reaped) since it was listed
            pass
    commands = " ".join(names.values())
    assert "postgres" in commands and "redis-server" in commands and "celery worker" in commands
    log = stack_process.home.parent / f"{stack_process.home.name}.out"
    data = Path(
        next(line for line in log.read_text().splitlines() if "data in " in line).split("data in ")[1][:-1]
    )
    assert data.is_dir()
    assert stack_process.stop(timeout=120) == 0

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
    print(f"processes started: {len(family)}; left running after Ctrl-C: {len(survivors())}")
    assert not data.exists()  # the throw-away Postgres and Redis data are gone too
    assert json.loads((stack_process.home / "stack.json").read_text())["pids"] == {}
