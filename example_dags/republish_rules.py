"""User job 1: every night, republish the rules a filter selects, wait for their jobs, report.

The study and mode come from the ``clinical_one_default`` connection extra. The filter is a
set of DAG params: scheduled runs use their defaults (every enabled rule in state publish or
approved); a manual run can narrow it (``airflow dags trigger -c '{"form_id": "..."}'``).

The publish task is never retried: each accepted publish starts the rules' jobs again. The
operator itself resends only requests that provably never reached the service, and checks the
rules' latest jobs before resending after an ambiguous failure. The sensor waits in the
triggerer (no worker slot) and fails, without retries, naming each rule whose job failed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from clinical_rules_provider.operators.filter_rules import ClinicalOneFilterRulesOperator
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "clinical-data",
    "retries": 2,  # transient service trouble; a job that failed is final and not retried
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}


@dag(
    schedule="0 2 * * *",  # nightly at 02:00 UTC, before the day's downstream loads
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=DEFAULT_ARGS,
    render_template_as_native_obj=True,
    params={
        "form_id": Param(None, type=["null", "string"], description="Only rules of this form (UUID)."),
        "user_name": Param(None, type=["null", "string"], description="Only rules of this user."),
        "publish_run": Param("AllData", enum=["AllData", "FutureData"]),
        "poll_interval_seconds": Param(120, type="integer", minimum=1),
    },
    tags=["clinical-one", "example"],
)
def republish_rules() -> None:
    find = ClinicalOneFilterRulesOperator(
        task_id="find_rules",
        form_id="{{ params.form_id }}",  # None (the default): no form filter
        user_name="{{ params.user_name }}",
        rule_states=["publish", "approved"],
        enabled=True,
        fail_if_empty=True,
    )
    publish = ClinicalOneUpdatePublishRunOperator(
        task_id="update_publish_run",
        publish_run="{{ params.publish_run }}",
        rule_ids=find.output,
        retries=0,  # a task retry would start every rule's job a second time
    )
    wait = ClinicalOneRuleJobSensor(
        task_id="wait_for_rule_jobs",
        rule_ids=publish.output["rule_ids"],  # started_after comes from the publish task's XCom
        deferrable=True,
        poll_interval="{{ params.poll_interval_seconds }}",
        timeout=timedelta(hours=6),
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
