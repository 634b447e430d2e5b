"""The example DAGs on the real stack: scheduler, LocalExecutor workers and the triggerer."""

from __future__ import annotations

import pytest

from tests.stack.client import Airflow

pytestmark = pytest.mark.stack


def test_republish_rules_runs_end_to_end(airflow: Airflow) -> None:
    run_id = airflow.trigger("republish_rules")
    assert airflow.wait_run("republish_rules", run_id)["state"] == "success"
    states = {t: ti["state"] for t, ti in airflow.tasks("republish_rules", run_id).items()}
    assert states == dict.fromkeys(
        ("find_rules", "update_publish_run", "wait_for_rule_jobs", "report"), "success"
    )


def test_gate_on_rule_jobs_runs_end_to_end(airflow: Airflow) -> None:
    run_id = airflow.trigger("gate_on_rule_jobs")
    assert airflow.wait_run("gate_on_rule_jobs", run_id)["state"] == "success"
    states = {t: ti["state"] for t, ti in airflow.tasks("gate_on_rule_jobs", run_id).items()}
    assert states == dict.fromkeys(("rerun_rules", "rule_jobs_succeeded", "load_downstream"), "success")


def test_cancel_stale_jobs_dry_run_runs_end_to_end(airflow: Airflow) -> None:
    run_id = airflow.trigger("cancel_stale_jobs", {"dry_run": True})
    assert airflow.wait_run("cancel_stale_jobs", run_id)["state"] == "success"
    states = {t: ti["state"] for t, ti in airflow.tasks("cancel_stale_jobs", run_id).items()}
    assert states == dict.fromkeys(("cancel_stale_rule_jobs", "cancel_stale_vault_jobs"), "success")
