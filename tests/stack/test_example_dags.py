"""The example DAGs on the real stack: scheduler, LocalExecutor workers and the triggerer."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from clinical_rules_provider.testing import EXAMPLE_STUDY_ID
from tests.stack.client import Airflow

GATED_RULES = ["938D23FA6B7241CCA41BD627E5DB60DA", "704A7178208D44BC9AD52556B18933C3"]

pytestmark = pytest.mark.stack


def test_republish_rules_runs_end_to_end(airflow: Airflow) -> None:
    run_id = airflow.trigger("republish_rules")
    assert airflow.wait_run("republish_rules", run_id)["state"] == "success"
    states = {t: ti["state"] for t, ti in airflow.tasks("republish_rules", run_id).items()}
    assert states == dict.fromkeys(
        ("find_rules", "update_publish_run", "wait_for_rule_jobs", "report"), "success"
    )


def test_gate_on_rule_jobs_runs_end_to_end(airflow: Airflow) -> None:
    # The gate waits on rule jobs something else started: start them here, outside the DAG.
    path = f"/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{EXAMPLE_STUDY_ID}/test/AllData"
    httpx.put(
        airflow.sim_url + path, json={"ruleIds": GATED_RULES}, auth=("demo-user", "demo-password"), timeout=30
    ).raise_for_status()
    # The example starts paused (no rule ids set); unpausing starts a scheduled run that
    # would fail, retry and hold max_active_runs=1: it is ended first.
    airflow.unpause_past_its_scheduled_run("gate_on_rule_jobs")
    try:
        conf = {"rule_ids": GATED_RULES, "poll_interval_seconds": 2}
        # A run with a logical date has a data interval (the sensor's started_after) ...
        when = datetime.now(timezone.utc).isoformat()
        run_id = airflow.trigger("gate_on_rule_jobs", conf, logical_date=when)
        assert airflow.wait_run("gate_on_rule_jobs", run_id)["state"] == "success"
        states = {t: ti["state"] for t, ti in airflow.tasks("gate_on_rule_jobs", run_id).items()}
        assert states == dict.fromkeys(("rule_jobs_succeeded", "load_downstream"), "success")
        # ... and one triggered with {"logical_date": null} has none: it checks the day before it.
        run_id = airflow.trigger("gate_on_rule_jobs", conf, logical_date=None)
        assert airflow.wait_run("gate_on_rule_jobs", run_id)["state"] == "success"
    finally:
        airflow.set_paused("gate_on_rule_jobs", True)


def test_cancel_stale_jobs_scheduled_and_dry_runs_end_to_end(airflow: Airflow) -> None:
    # It starts paused (it cancels for real). Unpausing starts a scheduled run: against the
    # simulator it fails by design (a seeded rule job cannot be cancelled), while its Vault
    # task cancels the stale Vault job and links to it: the simulator's job page.
    # Earlier runs (republish_rules restarts the rules' jobs) change which jobs are stale: start
    # from the seeded ones.
    airflow.sim_reset()
    scheduled = airflow.unpause("cancel_stale_jobs")
    try:
        assert airflow.wait_run("cancel_stale_jobs", scheduled)["state"] == "failed"
        tasks = airflow.tasks("cancel_stale_jobs", scheduled)
        assert {t: ti["state"] for t, ti in tasks.items()} == {
            "cancel_stale_rule_jobs": "failed",
            "cancel_stale_vault_jobs": "success",
        }
        link = airflow.links("cancel_stale_jobs", scheduled, "cancel_stale_vault_jobs")["Vault job"]
        assert link == f"{airflow.sim_url}/_sim/ui/vault/jobs/1046892"
        page = httpx.get(link, timeout=30)
        assert page.status_code == 200 and "simulator" in page.text
        run_id = airflow.trigger("cancel_stale_jobs", {"dry_run": True})
        assert airflow.wait_run("cancel_stale_jobs", run_id)["state"] == "success"
        states = {t: ti["state"] for t, ti in airflow.tasks("cancel_stale_jobs", run_id).items()}
        assert states == dict.fromkeys(("cancel_stale_rule_jobs", "cancel_stale_vault_jobs"), "success")
    finally:
        airflow.set_paused("cancel_stale_jobs", True)
