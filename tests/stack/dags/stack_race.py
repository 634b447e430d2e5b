"""Stack test: the scheduler race of apache/airflow #66374 (a trigger firing right after defer).

The publish operator starts ~2 s jobs and defers. ``conf["first_poll_delay"]`` overrides the
trigger's first-poll delay (``0``: the behaviour before issue 16, the trigger polls at once;
``null``: the provider's choice), so one DAG measures every variant.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag

from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator


class RacePublish(ClinicalOneUpdatePublishRunOperator):
    """The provider's operator, with the trigger's first-poll delay switchable per run."""

    def execute(self, context: Any) -> Any:
        self.delay_override = context["params"]["first_poll_delay"]
        return super().execute(context)

    def _trigger(self, *args: Any, **kwargs: Any) -> Any:
        trigger = super()._trigger(*args, **kwargs)
        if getattr(self, "delay_override", None) is not None:
            trigger.first_poll_delay = float(self.delay_override)
        return trigger


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=32,
    params={"first_poll_delay": Param(None, type=["null", "number"])},
    tags=["stack-test"],
)
def stack_race() -> None:
    RacePublish(
        task_id="publish_and_wait",
        publish_run="AllData",
        rule_ids=["938D23FA6B7241CCA41BD627E5DB60DA"],
        wait_for_completion=True,
        deferrable=True,
        poll_interval=2,
        retries=0,
    )


stack_race()
