"""Stack test: 20 deferred sensors on one study, polling the bulk job-status endpoint.

Each watches the same two rules the ``publish`` task started, so with coalesced polling
(issue 16 item 1) the triggerer needs one ``jobStatus`` request per cycle for all of them.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

SENSORS = 20
POLL_INTERVAL = 5.0
RULES = ["938D23FA6B7241CCA41BD627E5DB60DA", "704A7178208D44BC9AD52556B18933C3"]


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=SENSORS + 1,
    tags=["stack-test"],
)
def stack_many_sensors() -> None:
    publish = ClinicalOneUpdatePublishRunOperator(task_id="publish", publish_run="AllData", rule_ids=RULES)
    for n in range(SENSORS):
        publish >> ClinicalOneRuleJobSensor(
            task_id=f"wait_{n:02d}",
            rule_ids=RULES,
            poll_endpoint="job_status",
            deferrable=True,
            poll_interval=POLL_INTERVAL,
            timeout=timedelta(minutes=10),
        )


stack_many_sensors()
