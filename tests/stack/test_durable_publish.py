"""A worker killed mid-publish on a real stack: the task process is SIGKILLed after its
``AllData`` PUT reached the service and before the reply came back. Airflow retries the task,
and the retry applies no rule twice (Airflow 3.3+: the publish ledger in the task state store)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.stack.client import Airflow, StackProcess, airflow_3_3_or_later, task_process, wait_until

pytestmark = pytest.mark.stack
DAG = "stack_durable_publish"
RULES = [
    "938D23FA6B7241CCA41BD627E5DB60DA",
    "704A7178208D44BC9AD52556B18933C3",
    "8E2253D8E53A4A46BAE3E4952CBE9E5A",
]
PUBLISH = "/AllData"  # the publish-run PUT's path ends with the publish run


@pytest.mark.skipif(not airflow_3_3_or_later(), reason="the task state store arrives in Airflow 3.3")
def test_a_task_killed_after_its_publish_reached_the_service_is_retried_without_republishing(
    airflow: Airflow, stack_process: StackProcess
) -> None:
    airflow.sim_reset()
    jobs_before = airflow.sim_rule_jobs()
    # The service does the work on arrival and answers a minute later: the kill lands in between.
    airflow.sim_faults(latency_ms=60_000, path_filter="AllData$")
    try:
        run_id = airflow.trigger(DAG, {"rule_ids": RULES})
        wait_until(
            "the publish to start the rules' jobs", lambda: airflow.sim_rule_jobs() == jobs_before + 3, 120
        )
        port = urlsplit(airflow.sim_url).port
        assert port is not None
        ti_id = airflow.tasks(DAG, run_id)["publish"]["id"]
        (task,) = wait_until(
            "the task process waiting on its PUT", lambda: task_process(stack_process, ti_id, port), 30
        )
        task.kill()  # SIGKILL: no finally, no on_kill, nothing recorded after the PUT
    finally:
        airflow.sim_faults(clear=True, latency_ms=0)
    result = airflow.wait_run(DAG, run_id, timeout=300)
    assert result["state"] == "success", airflow.tasks(DAG, run_id)
    publish = airflow.tasks(DAG, run_id)["publish"]
    assert publish["try_number"] == 2  # the kill failed the first try; Airflow retried it
    assert airflow.sim_rule_jobs() == jobs_before + 3  # each rule ran once: the retry resent nothing
    assert len(airflow.sim_requests_to(PUBLISH)) == 1
