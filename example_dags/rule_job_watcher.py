"""Event-driven gating without a sensor: a DAG run per rule job that finishes.

An ``AssetWatcher`` runs :class:`ClinicalOneRuleJobEventTrigger` in the triggerer; each
rule job of the watched rules that reaches a terminal status becomes an asset event, and
each event starts this DAG (events arriving together may share a run). No task waits.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, AssetWatcher, dag, task

from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger

RULE_JOBS = Asset(
    "clinical_one_rule_jobs_finished",
    watchers=[
        AssetWatcher(
            name="clinical_one_rule_jobs",
            trigger=ClinicalOneRuleJobEventTrigger(
                study_id="36753A48BBA048CB98A5F3278146118D",
                study_mode="test",
                rule_ids=["8E2253D8E53A4A46BAE3E4952CBE9E5A", "699EF3745FC545589F186D2198F3C65E"],
                poll_interval=30,
            ),
        )
    ],
)


@dag(
    schedule=[RULE_JOBS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["clinical-one", "example", "assets"],
)
def rule_job_watcher() -> None:
    @task
    def react(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        finished = [event.extra["payload"] for event in (triggering_asset_events or {}).get(RULE_JOBS, [])]
        for job in finished:
            outcome = "succeeded" if job["phase"] == "success" else f"FAILED ({job['status']})"
            print(f"Rule {job['rule_id']} job {job['job_id']} {outcome}")
        return finished

    react()


rule_job_watcher()
