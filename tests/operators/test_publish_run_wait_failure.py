"""The publish operator's wait ends in ``AirflowFailException`` when a rule job failed: the
rules' jobs will not turn successful on a retry of the task, which would only republish."""

from __future__ import annotations

from typing import Any

import pytest

from clinical_rules_provider._compat import AirflowFailException
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import RULE_A, RULE_C

FAILING_RULE = RULE_C  # its jobs end Failed


def test_waiting_in_the_worker_raises_airflow_fail_exception_when_a_rule_job_failed(
    sim_c1: str, fast_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish",
        publish_run="AllData",
        rule_ids=[RULE_A, FAILING_RULE],
        wait_for_completion=True,
        poll_interval=0.05,
        clinical_one_conn_id=sim_c1,
    )
    with pytest.raises(AirflowFailException, match=FAILING_RULE):
        task.execute(context)


def test_execute_complete_raises_airflow_fail_exception_on_a_failure_event() -> None:
    task = ClinicalOneUpdatePublishRunOperator(task_id="publish", publish_run="AllData", rule_ids=[RULE_A])
    message = f"1 rule job(s) ended in a failure status: {RULE_A} (job J1): Failed"
    with pytest.raises(AirflowFailException, match=RULE_A):
        task.execute_complete({}, {"status": "failure", "message": message}, report={})
