"""HA test: two AssetWatchers on one study with ``poll_endpoint="job_status"`` (issue 22).

On Airflow 3.3+ the triggerer runs them through one shared poll of the study (one
``jobStatus`` request per cycle for both), and each keeps a watermark in its asset's
state store, so a job that finishes while its triggerer is dead still fires once the other takes over.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, AssetAny, AssetWatcher, dag, task

from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger

STUDY = "36753A48BBA048CB98A5F3278146118D"
# Not the rules ha_sensors publishes: every event of these comes from the test's own jobs.
RULES = ["699EF3745FC545589F186D2198F3C65E", "DBF2C278385E4AF4BA4FBF2AA76D194F"]
POLL_INTERVAL = 3.0
ASSETS = [
    Asset(
        f"ha_rule_jobs_{n}",
        watchers=[
            AssetWatcher(
                name=f"ha_rule_jobs_{n}",
                trigger=ClinicalOneRuleJobEventTrigger(
                    study_id=STUDY,
                    study_mode="test",
                    rule_ids=[rule],
                    poll_interval=POLL_INTERVAL,
                    poll_endpoint="job_status",
                ),
            )
        ],
    )
    for n, rule in enumerate(RULES)
]


@dag(
    schedule=AssetAny(*ASSETS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ha-test"],
)
def ha_watchers() -> None:
    @task
    def react(triggering_asset_events: Any = None) -> int:
        return sum(len(events) for events in (triggering_asset_events or {}).values())

    react()


ha_watchers()
