"""User job 2: a daily load runs only after the rule jobs it depends on succeeded.

Something else starts those jobs: the nightly ``republish_rules`` DAG, or study designers
republishing rules in Clinical One. Each run checks the jobs started within its data interval
(the previous day, 04:00 to 04:00 UTC): every listed rule needs a job started at or after
``data_interval_start`` that succeeded. A run without a data interval (triggered with no
logical date, as the UI and REST API allow) checks the 24 hours before it was triggered. A rule with no such job yet keeps the sensor waiting
(in the triggerer, without a worker slot) until ``timeout``; a job that failed fails the
sensor at once, naming each rule and status, and ``load_downstream`` does not run.

Set the ``rule_ids`` param's default to the rules your load depends on (32-hex or UUID ids).
Until then a scheduled run would fail (``rule_ids: expected a non-empty list``) and, retrying,
hold ``max_active_runs``: the DAG is paused when Airflow first sees it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "clinical-data",
    "retries": 2,  # transient service trouble; a job that failed is final and not retried
    "retry_delay": timedelta(minutes=5),
}


@dag(
    # A data interval (yesterday 04:00 to today 04:00), not a plain cron string: in Airflow 3 a
    # cron string gives a run with a zero-length interval, so it would ignore the night's jobs.
    schedule=CronDataIntervalTimetable("0 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # Paused until you set the rules (a scheduled run with none fails); the UI shows why.
    is_paused_upon_creation=True,
    description="Paused: set the rule_ids param's default to the rules your load depends on, then unpause.",
    default_args=DEFAULT_ARGS,
    render_template_as_native_obj=True,
    params={
        "rule_ids": Param(
            [],
            type="array",
            items={"type": "string"},
            description="The rules whose jobs gate the load; set this to your study's rules.",
        ),
        "poll_interval_seconds": Param(300, type="integer", minimum=1),
    },
    tags=["clinical-one", "example"],
)
def gate_on_rule_jobs() -> None:
    gate = ClinicalOneRuleJobSensor(
        task_id="rule_jobs_succeeded",
        rule_ids="{{ params.rule_ids }}",
        # No data interval (a run triggered with no logical date): the day before the run.
        started_after="{{ data_interval_start | default(dag_run.run_after - macros.timedelta(days=1)) }}",
        deferrable=True,
        poll_interval="{{ params.poll_interval_seconds }}",
        timeout=timedelta(hours=3),
    )

    @task
    def load_downstream(outcome: dict[str, Any]) -> str:
        message = f"loading data validated by {len(outcome['succeeded'])} rule job(s)"
        print(message)
        return message

    load_downstream(gate.output)


gate_on_rule_jobs()
