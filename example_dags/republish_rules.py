"""User job 1: republish rules chosen by filter, wait for their jobs (deferrable), report.

The study and mode come from the ``clinical_one_default`` connection extra; the filter
is a DAG param so a run can narrow it (``airflow dags trigger -c '{...}'``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from clinical_rules_provider.operators.filter_rules import ClinicalOneFilterRulesOperator
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "form_id": Param("39903D6C-042D-4D9E-8977-3160488E6D3D", type="string"),
        "user_name": Param("jsmith", type="string"),
        "publish_run": Param("AllData", enum=["AllData", "FutureData"]),
    },
    tags=["clinical-one", "example"],
)
def republish_rules() -> None:
    find = ClinicalOneFilterRulesOperator(
        task_id="find_rules",
        form_id="{{ params.form_id }}",
        user_name="{{ params.user_name }}",
        rule_states=["publish", "approved"],
        enabled=True,
        fail_if_empty=True,
    )
    publish = ClinicalOneUpdatePublishRunOperator(
        task_id="update_publish_run",
        publish_run="{{ params.publish_run }}",
        rule_ids=find.output,
    )
    wait = ClinicalOneRuleJobSensor(
        task_id="wait_for_rule_jobs",
        rule_ids=publish.output["rule_ids"],  # started_after comes from the publish task's XCom
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=30),
    )

    @task
    def report(published: dict[str, Any], jobs: dict[str, Any]) -> dict[str, Any]:
        summary = {
            "publish_run": published["publish_run"],
            "updated": published["rule_ids"],
            "not_updated": published["failed"],
            "job_status": {rule: job["status"] for rule, job in jobs["succeeded"].items()},
        }
        print(f"Republished {len(summary['updated'])} rule(s): {summary['job_status']}")
        return summary

    report(publish.output, wait.output)


republish_rules()
