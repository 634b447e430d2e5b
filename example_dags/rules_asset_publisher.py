"""Asset events, publisher side: republish rules and announce it on the study's rules asset.

The outlet ``clinical-one://<host>/<study>/test/rules`` gets an asset event when the task
succeeds; its extra says what was republished (``publish_run``, ``rule_ids``,
``started_after``, ``job_ids``). ``rules_asset_consumer`` is scheduled on that asset.
Set ``CLINICAL_ONE_ASSET_HOST`` to your tenant host (the demo sets the simulator's).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag

from clinical_rules_provider.assets import clinical_one_rules_asset
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator

STUDY_ID = "36753A48BBA048CB98A5F3278146118D"
STUDY_RULES = clinical_one_rules_asset(
    os.environ.get("CLINICAL_ONE_ASSET_HOST", "tenant.clinicalone.oraclecloud.com"), STUDY_ID, "test"
)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["clinical-one", "example", "assets"],
)
def rules_asset_publisher() -> None:
    ClinicalOneUpdatePublishRunOperator(
        task_id="republish",
        study_id=STUDY_ID,
        study_mode="test",
        publish_run="AllData",
        rule_ids=["8E2253D8E53A4A46BAE3E4952CBE9E5A", "938D23FA6B7241CCA41BD627E5DB60DA"],
        wait_for_completion=True,  # the event then also names each rule's job
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=30),
        outlets=[STUDY_RULES],
    )


rules_asset_publisher()
