"""Many deferred sensors on one study in one triggerer (issue 16 item 4), beside the five
AssetWatchers of ``stack_watchers`` on the same study (issue 22).

With coalesced polling the triggerer sends one ``jobStatus`` request per cycle for all 20
sensors (the physical floor, ⌈distinct rules / 500⌉ = 1); without it, one per sensor (20).
On Airflow 3.3 the five watchers share one more poll through the triggerer's shared streams
(the bulk read with ``history=true``: every recent job), one per watcher cycle, not five.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.stack.client import Airflow, airflow_3_3_or_later, requests_per_cycle, wait_until
from tests.stack.dags.stack_many_sensors import POLL_INTERVAL, SENSORS
from tests.stack.dags.stack_watchers import POLL_INTERVAL as WATCH_INTERVAL

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
    window = airflow.sim_requests_to("jobStatus", since=window_start)
    polls = [r for r in window if "history=true" not in r["query"]]  # the sensors' shared poll
    watches = [r for r in window if "history=true" in r["query"]]  # the watchers' shared stream
    cycles = requests_per_cycle(polls, POLL_INTERVAL)
    watch_cycles = requests_per_cycle(watches, WATCH_INTERVAL)
    print(f"jobStatus requests per {POLL_INTERVAL:g} s cycle, {SENSORS} deferred sensors: {cycles}")
    print(f"jobStatus requests per {WATCH_INTERVAL:g} s cycle, 5 watchers on the same study: {watch_cycles}")
    assert polls  # the triggerer polled the bulk endpoint while every sensor was deferred
    if airflow_3_3_or_later():  # the watchers share one poll, never one each
        assert watches, "the five watchers did not poll while the sensors waited"
        assert max(watch_cycles) <= 2, watch_cycles
        assert sum(watch_cycles) <= 1.5 * len(watch_cycles), watch_cycles
    # Coalesced: about one request per cycle (a cycle boundary may catch two), never one per sensor.
    # (A trigger joining from a cold start may add a poll; 20 sensors polling alone would make 20.)
    assert max(cycles) <= 3, cycles
    assert sum(cycles) <= 1.5 * len(cycles), cycles
