"""A mark-failed from the REST API cancels the task's rule jobs exactly once, with two
triggerers running (either may hold the trigger; neither may cancel twice)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tests.ha.helpers import running
from tests.stack.client import Airflow, StackProcess, trigger_log, wait_until

pytestmark = pytest.mark.ha
DAG = "stack_deferred_sensor"


def test_mark_failed_cancels_the_rule_jobs_exactly_once_with_two_triggerers(
    airflow: Airflow, stack_process: StackProcess
) -> None:
    assert {"triggerer-1", "triggerer-2"} <= set(stack_process.state()["pids"])
    airflow.sim_settings(running_seconds=300)
    run_id = airflow.trigger(DAG)
    airflow.wait_task_state(DAG, run_id, "wait", "deferred", timeout=240)
    wait_until(
        "the trigger to poll",
        lambda: "Waiting on" in trigger_log(stack_process.home, DAG, run_id, "wait"),
        timeout=120,
    )
    killed_at = datetime.now(timezone.utc)
    airflow.set_task_state(DAG, run_id, "wait", "failed")
    wait_until(
        "the trigger's on_kill to cancel the rule job",
        lambda: airflow.sim_requests_to("cancelRuleJob", since=killed_at),
        timeout=60,
    )
    assert airflow.wait_run(DAG, run_id, timeout=120)["state"] == "failed"
    time.sleep(15)  # several heartbeats of both triggerers: a second cancel would be here by now
    cancels = airflow.sim_requests_to("cancelRuleJob", since=killed_at)
    print(
        f"cancelRuleJob requests after mark-failed: {len(cancels)}; triggerers: "
        f"{ {n: running(stack_process, n) for n in ('triggerer-1', 'triggerer-2')} }"
    )
    assert [c["status"] for c in cancels] == [200]  # one rule, one job: exactly one cancel
