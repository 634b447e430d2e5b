"""Asset events, consumer side: runs on every republish announced by ``rules_asset_publisher``.

No sensor and no polling: the scheduler starts this DAG when the asset gets an event, and
the task reads what was republished from ``triggering_asset_events``.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import dag, task

from clinical_rules_provider.assets import clinical_one_rules_asset

STUDY_RULES = clinical_one_rules_asset(
    os.environ.get("CLINICAL_ONE_ASSET_HOST", "tenant.clinicalone.oraclecloud.com"),
    "36753A48BBA048CB98A5F3278146118D",
    "test",
)


@dag(
    schedule=[STUDY_RULES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["clinical-one", "example", "assets"],
)
def rules_asset_consumer() -> None:
    @task
    def refresh_downstream(triggering_asset_events: Any = None) -> dict[str, Any]:
        republished: dict[str, Any] = {}
        for event in (triggering_asset_events or {}).get(STUDY_RULES, []):
            extra = event.extra
            print(f"{extra['publish_run']} republish of {extra['rule_ids']} since {extra['started_after']}")
            for rule_id in extra["rule_ids"]:
                republished[rule_id] = extra["job_ids"].get(rule_id)
        return {"republished": republished}

    refresh_downstream()


rules_asset_consumer()
