"""Stack test: two deferred waits across a triggerer restart.

``never_done`` watches a job id that never appears, so only its absolute deadline ends it;
``done_later`` watches jobs the test made last about 40 s.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

NEVER_DONE_TIMEOUT = 45.0


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["stack-test"],
)
def stack_deadline() -> None:
    ClinicalOneRuleJobSensor(
        task_id="never_done",
        rule_ids=["8E2253D8E53A4A46BAE3E4952CBE9E5A"],
        job_ids=["00000000000000000000000000000BAD"],
        deferrable=True,
        poll_interval=3,
        timeout=timedelta(seconds=NEVER_DONE_TIMEOUT),
    )
    publish = ClinicalOneUpdatePublishRunOperator(
        task_id="publish", publish_run="AllData", rule_ids=["704A7178208D44BC9AD52556B18933C3"]
    )
    publish >> ClinicalOneRuleJobSensor(
        task_id="done_later",
        rule_ids=publish.output["rule_ids"],
        deferrable=True,
        poll_interval=3,
        timeout=timedelta(minutes=5),
    )


stack_deadline()
