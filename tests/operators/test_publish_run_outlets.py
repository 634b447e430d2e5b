"""ClinicalOneUpdatePublishRunOperator announces a republish on its clinical-one:// outlet."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from clinical_rules_provider._compat import TaskDeferred
from clinical_rules_provider.assets import clinical_one_rules_asset
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import RULE_A, RULE_B, STUDY
from tests.operators.conftest import FakeTI, make_context


def run_context(ti: FakeTI) -> dict[str, Any]:
    from airflow.sdk.execution_time.context import OutletEventAccessors

    return {**make_context(ti), "outlet_events": OutletEventAccessors()}


def publisher(conn_id: str, sim: LiveSimulator, mode: str = "test", **kwargs: Any) -> Any:
    asset = clinical_one_rules_asset(urlsplit(sim.url).netloc, STUDY, mode)
    kwargs.setdefault("rule_ids", [RULE_A, RULE_B])
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish",
        publish_run="AllData",
        poll_interval=0.05,
        clinical_one_conn_id=conn_id,
        outlets=[asset],
        **kwargs,
    )
    return task, asset


def test_success_puts_what_was_republished_on_the_asset_event(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI
) -> None:
    task, asset = publisher(sim_c1, simulator)
    context = run_context(ti)
    report = task.execute(context)
    extra = context["outlet_events"][asset].extra
    assert extra == {
        "study_id": STUDY,
        "study_mode": "test",
        "publish_run": "AllData",
        "rule_ids": [RULE_A, RULE_B],
        "started_after": report["started_after"],
        "job_ids": {},
    }
    assert json.loads(json.dumps(extra)) == extra  # stored as JSON, read back unchanged


def test_after_a_wait_the_extra_names_each_rules_job(
    sim_c1: str, fast_jobs: LiveSimulator, ti: FakeTI
) -> None:
    task, asset = publisher(sim_c1, fast_jobs, wait_for_completion=True)
    context = run_context(ti)
    task.execute(context)
    job_ids = context["outlet_events"][asset].extra["job_ids"]
    for rule_id in (RULE_A, RULE_B):
        latest = fast_jobs.state.latest_job(STUDY, "test", rule_id)
        assert latest is not None and job_ids[rule_id] == latest.job_id


def test_a_deferred_publish_attaches_the_extra_when_it_resumes(
    sim_c1: str, slow_jobs: LiveSimulator, ti: FakeTI
) -> None:
    task, asset = publisher(sim_c1, slow_jobs, wait_for_completion=True, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(run_context(ti))
    resumed = run_context(ti)
    event = {"status": "success", "outcome": {"succeeded": {RULE_A: {"job_id": "J1"}}, "failed": {}}}
    task.execute_complete(resumed, event, **deferred.value.kwargs)
    extra = resumed["outlet_events"][asset].extra
    assert extra["rule_ids"] == [RULE_A, RULE_B] and extra["job_ids"] == {RULE_A: "J1"}


def test_an_outlet_for_another_mode_is_refused_before_any_request(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI
) -> None:
    task, _ = publisher(sim_c1, simulator, mode="production")
    before = simulator.state.request_count
    with pytest.raises(ValueError, match="outlets"):
        task.execute(run_context(ti))
    assert simulator.state.request_count == before


def test_a_resume_without_the_report_rebuilds_the_extra_from_xcom(
    sim_c1: str, simulator: LiveSimulator
) -> None:
    """``dag.test()`` resumes a deferred task with the trigger event only (no ``report``)."""
    task, asset = publisher(sim_c1, simulator)
    ti = FakeTI(pulls={"rule_ids": [RULE_A], "started_after": "2026-03-01T12:00:00+00:00"})
    resumed = run_context(ti)
    event = {"status": "success", "outcome": {"succeeded": {RULE_A: {"job_id": "J1"}}, "failed": {}}}
    result = task.execute_complete(resumed, event)
    assert resumed["outlet_events"][asset].extra == {
        "study_id": STUDY,
        "study_mode": "test",
        "publish_run": "AllData",
        "rule_ids": [RULE_A],
        "started_after": "2026-03-01T12:00:00+00:00",
        "job_ids": {RULE_A: "J1"},
    }
    assert result["rule_ids"] == [RULE_A]
