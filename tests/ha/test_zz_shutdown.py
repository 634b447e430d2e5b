"""Last (file order): Ctrl-C stops every process the HA stack started, Postgres and Redis
included, and removes their throw-away data. Nothing survives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stack.client import StackProcess, ctrl_c_leaves_nothing

pytestmark = pytest.mark.ha


def test_ctrl_c_stops_every_process_and_both_databases(stack_process: StackProcess) -> None:
    log = stack_process.home.parent / f"{stack_process.home.name}.out"
    data = Path(
        next(line for line in log.read_text().splitlines() if "data in " in line).split("data in ")[1][:-1]
    )
    assert data.is_dir()
    commands = " ".join(ctrl_c_leaves_nothing(stack_process, timeout=120))
    assert "postgres" in commands and "redis-server" in commands and "celery worker" in commands
    assert not data.exists()  # the throw-away Postgres and Redis data are gone too
    assert json.loads((stack_process.home / "stack.json").read_text())["pids"] == {}
