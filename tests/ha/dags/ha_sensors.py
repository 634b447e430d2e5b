"""HA test: 20 deferred sensors on one study, and one wait that only its deadline ends.

The ``wait_NN`` sensors watch the two rules ``publish`` started (the test makes those jobs
run about a minute); ``never_done`` watches a job id that never appears, so only its
absolute deadline (``NEVER_DONE_TIMEOUT`` after it first deferred) ends it, whichever
triggerer runs it then.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

SENSORS = 20
POLL_INTERVAL = 5.0
SENSOR_TIMEOUT = 240.0
NEVER_DONE_TIMEOUT = 75.0
RULES = ["938D23FA6B7241CCA41BD627E5DB60DA", "704A7178208D44BC9AD52556B18933C3"]


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=SENSORS + 2,
    tags=["ha-test"],
)
def ha_sensors() -> None:
    ClinicalOneRuleJobSensor(
        task_id="never_done",
        rule_ids=["8E2253D8E53A4A46BAE3E4952CBE9E5A"],
        job_ids=["00000000000000000000000000000BAD"],
        poll_endpoint="job_status",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(seconds=NEVER_DONE_TIMEOUT),
    )
    publish = ClinicalOneUpdatePublishRunOperator(task_id="publish", publish_run="AllData", rule_ids=RULES)
    for n in range(SENSORS):
        publish >> ClinicalOneRuleJobSensor(
            task_id=f"wait_{n:02d}",
            rule_ids=RULES,
            poll_endpoint="job_status",
            deferrable=True,
            poll_interval=POLL_INTERVAL,
            timeout=timedelta(seconds=SENSOR_TIMEOUT),
            cancel_on_kill=True,
        )


ha_sensors()
