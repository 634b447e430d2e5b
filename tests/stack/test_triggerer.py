"""Deferred waits in the stack's separate triggerer process: where they run, kill, restart."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timezone

import pytest

from tests.stack.client import Airflow, StackProcess, airflow_3_3_or_later, trigger_log, wait_until
from tests.stack.dags.stack_deadline import NEVER_DONE_TIMEOUT

pytestmark = pytest.mark.stack
TRIGGER = "clinical_rules_provider.triggers.rule_job.ClinicalOneRuleJobTrigger"


def _wait_polling(airflow: Airflow, stack: StackProcess, dag_id: str, run_id: str, task_id: str) -> None:
    """Until the task is deferred and the triggerer's trigger has polled at least once."""
    airflow.wait_task_state(dag_id, run_id, task_id, "deferred")
    wait_until(
        f"{task_id}'s trigger to poll",
        lambda: "Waiting on" in trigger_log(stack.home, dag_id, run_id, task_id),
        timeout=120,
    )


def test_deferred_sensor_polls_from_the_triggerer_process(
    airflow: Airflow, stack_process: StackProcess
) -> None:
    airflow.sim_settings(running_seconds=20)
    run_id = airflow.trigger("stack_deferred_sensor")
    airflow.wait_task_state("stack_deferred_sensor", run_id, "wait", "deferred")
    deferred_at = datetime.now(timezone.utc)
    _wait_polling(airflow, stack_process, "stack_deferred_sensor", run_id, "wait")
    ti = airflow.tasks("stack_deferred_sensor", run_id)["wait"]
    assert ti["state"] == "deferred"
    assert ti["trigger"]["classpath"] == TRIGGER
    assert ti["triggerer_job"]["job_type"] == "TriggererJob"
    assert ti["triggerer_job"]["state"] == "running"
    folder = (
        stack_process.home / "logs" / "dag_id=stack_deferred_sensor" / f"run_id={run_id}" / "task_id=wait"
    )
    assert (folder / f"attempt=1.log.trigger.{ti['triggerer_job']['id']}.log").is_file()
    # No worker runs the task while it is deferred: these polls come from the triggerer.
    wait_until(
        "two polls while deferred",
        lambda: len(airflow.sim_requests_to("rerunHistory", since=deferred_at)) >= 2,
        timeout=60,
    )
    assert airflow.wait_run("stack_deferred_sensor", run_id)["state"] == "success"
    log = trigger_log(stack_process.home, "stack_deferred_sensor", run_id, "wait")
    assert "ClinicalOneRuleJobTrigger" in log and "trigger completed" in log


@pytest.mark.skipif(not airflow_3_3_or_later(), reason="a trigger's on_kill runs from Airflow 3.3 on")
def test_marking_a_deferred_task_failed_cancels_its_rule_jobs(
    airflow: Airflow, stack_process: StackProcess
) -> None:
    airflow.sim_settings(running_seconds=300)
    run_id = airflow.trigger("stack_deferred_sensor")
    _wait_polling(airflow, stack_process, "stack_deferred_sensor", run_id, "wait")
    killed_at = datetime.now(timezone.utc)
    airflow.set_task_state("stack_deferred_sensor", run_id, "wait", "failed")
    cancels = wait_until(
        "the trigger's on_kill to cancel the rule jobs",
        lambda: airflow.sim_requests_to("cancelRuleJob", since=killed_at),
        timeout=60,
    )
    assert cancels[0]["status"] == 200
    assert airflow.wait_run("stack_deferred_sensor", run_id, timeout=120)["state"] == "failed"
    log = trigger_log(stack_process.home, "stack_deferred_sensor", run_id, "wait")
    assert "Cancelled 1 rule job(s) on kill" in log


def test_triggerer_restart_keeps_the_absolute_deadline(airflow: Airflow, stack_process: StackProcess) -> None:
    airflow.sim_settings(running_seconds=45)
    run_id = airflow.trigger("stack_deadline")
    for task_id in ("never_done", "done_later"):
        _wait_polling(airflow, stack_process, "stack_deadline", run_id, task_id)
    started = datetime.fromisoformat(airflow.tasks("stack_deadline", run_id)["never_done"]["start_date"])
    time.sleep(max(0.0, 15 - (datetime.now(timezone.utc) - started).total_seconds()))
    old = stack_process.state()["pids"]["triggerer"]
    restarted_at = datetime.now(timezone.utc)
    os.killpg(old, signal.SIGTERM)  # as a redeploy would; the stack starts a new triggerer
    wait_until("a new triggerer", lambda: stack_process.state()["pids"]["triggerer"] != old, timeout=60)

    assert airflow.wait_run("stack_deadline", run_id, timeout=240)["state"] == "failed"
    tasks = airflow.tasks("stack_deadline", run_id)
    assert tasks["done_later"]["state"] == "success"  # the wait ended correctly after the restart
    assert tasks["never_done"]["state"] == "failed"  # ... and this one at its original deadline:
    ended = datetime.fromisoformat(tasks["never_done"]["end_date"])
    assert (restarted_at - started).total_seconds() >= 15
    assert (ended - started).total_seconds() < NEVER_DONE_TIMEOUT + 10  # a reset deadline: >= 60 s
    # Both triggers were picked up again by the new triggerer (one log file per triggerer job).
    for task_id in ("never_done", "done_later"):
        folder = (
            stack_process.home / "logs" / "dag_id=stack_deadline" / f"run_id={run_id}" / f"task_id={task_id}"
        )
        assert len(list(folder.glob("attempt=1.log.trigger.*"))) == 2
