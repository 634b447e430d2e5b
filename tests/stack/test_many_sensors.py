"""Many deferred sensors on one study in one triggerer (issue 16 item 4).

The coalescing check belongs here once coalesced polling lands: assert that every cycle
of ``requests_per_cycle(...)`` stays at the physical floor (⌈distinct rules / 500⌉ = 1).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.stack.client import Airflow, requests_per_cycle, wait_until
from tests.stack.dags.stack_many_sensors import POLL_INTERVAL, SENSORS

pytestmark = pytest.mark.stack
DAG = "stack_many_sensors"


def test_twenty_deferred_sensors_on_one_study_all_succeed(airflow: Airflow) -> None:
    airflow.sim_settings(running_seconds=60)
    run_id = airflow.trigger(DAG)

    def all_deferred() -> bool:
        tasks = airflow.tasks(DAG, run_id)
        return sum(ti["state"] == "deferred" for ti in tasks.values()) == SENSORS

    wait_until(f"{SENSORS} sensors to be deferred at once", all_deferred, timeout=240, every=2)
    window_start = datetime.now(timezone.utc)
    assert airflow.wait_run(DAG, run_id, timeout=300)["state"] == "success"
    polls = airflow.sim_requests_to("jobStatus", since=window_start)
    cycles = requests_per_cycle(polls, POLL_INTERVAL)
    print(f"jobStatus requests per {POLL_INTERVAL:g} s cycle, {SENSORS} deferred sensors: {cycles}")
    assert polls  # the triggerer polled the bulk endpoint while every sensor was deferred
