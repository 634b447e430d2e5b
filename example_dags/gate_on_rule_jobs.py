"""User job 2: a downstream step runs only after the rule jobs succeeded.

``update_publish_run`` starts the jobs; the deferrable sensor frees its worker slot while
waiting and fails, naming each rule and status, if a job ends in a failure status, so
``load_downstream`` never sees data from a failed rule run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "rule_ids": Param(
            ["938D23FA6B7241CCA41BD627E5DB60DA", "704A7178208D44BC9AD52556B18933C3"],
            type="array",
            items={"type": "string"},
        ),
    },
    tags=["clinical-one", "example"],
)
def gate_on_rule_jobs() -> None:
    rerun = ClinicalOneUpdatePublishRunOperator(
        task_id="rerun_rules",
        publish_run="AllData",
        rule_ids="{{ params.rule_ids }}",
    )
    gate = ClinicalOneRuleJobSensor(
        task_id="rule_jobs_succeeded",
        rule_ids=rerun.output["rule_ids"],
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=30),
    )

    @task
    def load_downstream(rule_ids: list[str]) -> str:
        message = f"loading data validated by {len(rule_ids)} rule(s)"
        print(message)
        return message

    gate >> load_downstream(rerun.output["rule_ids"])


gate_on_rule_jobs()
