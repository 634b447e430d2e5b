"""A scheduler dies (``kill -9``): runs go on, on the other scheduler."""

from __future__ import annotations

import pytest

from tests.ha.helpers import kill_9
from tests.stack.client import Airflow, StackProcess, wait_until

pytestmark = pytest.mark.ha
DAG = "stack_deferred_sensor"


def test_runs_go_on_when_a_scheduler_dies(airflow: Airflow, stack_process: StackProcess) -> None:
    airflow.sim_settings(running_seconds=20)
    started = airflow.trigger(DAG)  # in flight when the scheduler dies
    airflow.wait_task_state(DAG, started, "wait", "deferred", timeout=240)
    kill_9(stack_process, "scheduler-1")
    wait_until("scheduler-1 to be gone", lambda: "scheduler-1" not in stack_process.state()["pids"], 30)
    after = airflow.trigger(DAG)  # only the survivor can schedule this one
    assert airflow.wait_run(DAG, started, timeout=300)["state"] == "success"
    assert airflow.wait_run(DAG, after, timeout=300)["state"] == "success"
    assert airflow.health()["scheduler"]["status"] == "healthy"
