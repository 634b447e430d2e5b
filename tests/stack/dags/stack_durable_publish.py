"""Stack and HA test: a publish whose task process (stack) or whole Celery worker (HA) is
killed after its PUT reached the service."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={"rule_ids": Param([], type="array")},
    tags=["stack-test"],
)
def stack_durable_publish() -> None:
    ClinicalOneUpdatePublishRunOperator(
        task_id="publish",
        publish_run="AllData",
        rule_ids="{{ params.rule_ids }}",
        retries=1,  # Airflow 3.3+: the retry reconciles from the task state store, it never resends
        retry_delay=timedelta(seconds=2),
    )


stack_durable_publish()
