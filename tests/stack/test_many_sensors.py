"""Many deferred sensors on one study in one triggerer (issue 16 item 4).

With coalesced polling the triggerer sends one ``jobStatus`` request per cycle for all of
them (the physical floor, ⌈distinct rules / 500⌉ = 1); without it, one per sensor (20).
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
    # Coalesced: about one request per cycle (a cycle boundary may catch two), never one per sensor.
    # (A trigger joining from a cold start may add a poll; 20 sensors polling alone would make 20.)
    assert max(cycles) <= 3, cycles
    assert sum(cycles) <= 1.5 * len(cycles), cycles
