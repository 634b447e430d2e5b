"""Stack and HA test: publish, then a deferrable sensor that cancels the jobs if the task is killed."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={"rule_ids": Param(["938D23FA6B7241CCA41BD627E5DB60DA"], type="array")},
    tags=["stack-test"],
)
def stack_deferred_sensor() -> None:
    publish = ClinicalOneUpdatePublishRunOperator(
        task_id="publish", publish_run="AllData", rule_ids="{{ params.rule_ids }}"
    )
    ClinicalOneRuleJobSensor(
        task_id="wait",
        rule_ids=publish.output["rule_ids"],
        deferrable=True,
        poll_interval=2,
        cancel_on_kill=True,
        timeout=timedelta(minutes=5),
    )


stack_deferred_sensor()
