"""End to end: each example DAG runs with real Airflow (``dag.test()``, deferral included,
SQLite metadata DB) against the simulator over loopback HTTP; assertions cover the final
task states and the simulator's final job states."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clinical_rules_provider.testing import (
    EXAMPLE_STUDY_ID,
    FAILING_RULE_ID,
    STALE_RULE_ID,
    UNCANCELLABLE_RULE_ID,
    LiveSimulator,
    SimulatorState,
)
from scripts.run_dag import task_failures

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "example_dags"
MODE = "test"
# The tests' own params for the example DAGs (the DAGs' defaults are for a real study).
REPUBLISH_CONF = {
    "form_id": "39903D6C-042D-4D9E-8977-3160488E6D3D",
    "user_name": "jsmith",
    "poll_interval_seconds": 1,
}
GATED_RULES = ["938D23FA6B7241CCA41BD627E5DB60DA", "704A7178208D44BC9AD52556B18933C3"]


@pytest.fixture
def sim() -> Iterator[LiveSimulator]:
    with LiveSimulator(SimulatorState(pending_seconds=0.3, running_seconds=1.0)) as live:
        yield live


@pytest.fixture
def slow_sim() -> Iterator[LiveSimulator]:
    """Rule jobs that outlast a task's start-up on any machine, so the sensor must defer."""
    with LiveSimulator(SimulatorState(pending_seconds=0.3, running_seconds=5.0)) as live:
        yield live


def c1_conn_json(sim: LiveSimulator) -> str:
    return json.dumps(
        {
            "conn_type": "clinical_one",
            "host": sim.url,
            "login": "demo-user",
            "password": "demo-password",
            "extra": {"study_id": EXAMPLE_STUDY_ID, "study_mode": MODE, "retry_backoff": 0.05},
        }
    )


def start_rule_jobs(sim: LiveSimulator, rule_ids: list[str]) -> None:
    """Start the rules' jobs outside any DAG (the gate waits on jobs something else started)."""
    for rule_id in rule_ids:
        rule = sim.state.rule(EXAMPLE_STUDY_ID, MODE, rule_id)
        assert rule is not None
        sim.state.start_job(rule)


def run_dag(
    env: dict[str, str],
    sim: LiveSimulator,
    dag_id: str,
    conf: dict[str, Any] | None = None,
    *,
    scheduled: bool = False,
    timeout: float = 300,
) -> dict[str, Any]:
    env = {
        **env,
        "AIRFLOW_CONN_CLINICAL_ONE_DEFAULT": json.dumps(
            {
                "conn_type": "clinical_one",
                "host": sim.url,
                "login": "demo-user",
                "password": "demo-password",
                "extra": {"study_id": EXAMPLE_STUDY_ID, "study_mode": MODE, "retry_backoff": 0.05},
            }
        ),
        "AIRFLOW_CONN_VEEVA_VAULT_DEFAULT": json.dumps(
            {
                "conn_type": "veeva_vault",
                "host": sim.url,
                "login": "integration@sim.example",
                "password": "sim-password",
            }
        ),
    }
    args = [sys.executable, str(ROOT / "scripts" / "run_dag.py"), dag_id] + (
        [json.dumps(conf)] if conf else []
    )
    if scheduled:  # a run with a data interval, as the scheduler makes it
        args += ["--logical-date", "now"]
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as timed_out:  # say why, not just that it took too long
        partial = timed_out.stdout.decode() if isinstance(timed_out.stdout, bytes) else timed_out.stdout
        tries = "\n".join(task_failures(partial or "")) or "(none logged)"
        pytest.fail(f"{dag_id} ran past {timeout} s; its failed tries:\n{tries}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG-RESULT ")]
    assert lines, done.stdout[-4000:] + done.stderr[-4000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("DAG-RESULT "))
    result["log"] = done.stdout
    return result


def explain(result: dict[str, Any]) -> str:
    """An assertion message for a run that went wrong: each task's state, then the failed
    tries' own exceptions (not the log's tail, which is mostly the run winding down)."""
    failures = task_failures(result["log"]) or [result["log"][-2000:]]
    return f"{result['dag_id']}: {result['state']} {states(result)}\n" + "\n---\n".join(failures)


def states(result: dict[str, Any]) -> dict[str, str]:
    return {task: info["state"] for task, info in result["tasks"].items()}


def xcom(result: dict[str, Any], task: str, key: str = "return_value") -> Any:
    return result["tasks"][task]["xcom"][key]


def test_example_dags_import_without_errors() -> None:
    try:  # Airflow 3.1+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "republish_rules",
        "gate_on_rule_jobs",
        "cancel_stale_jobs",
        "rules_asset_publisher",
        "rules_asset_consumer",
        "rule_job_watcher",
    }


def test_republish_rules_updates_the_filtered_rules_and_waits_for_their_new_jobs(
    airflow_env: dict[str, str], slow_sim: LiveSimulator
) -> None:
    sim = slow_sim
    result = run_dag(airflow_env, sim, "republish_rules", REPUBLISH_CONF)
    assert result["state"] == "success", explain(result)
    assert states(result) == dict.fromkeys(
        ("find_rules", "update_publish_run", "wait_for_rule_jobs", "report"), "success"
    )
    updated = xcom(result, "update_publish_run", "rule_ids")
    assert sorted(updated) == sorted(xcom(result, "find_rules"))
    assert updated
    for rule_id in updated:
        rule = sim.state.rule(EXAMPLE_STUDY_ID, MODE, rule_id)
        assert rule is not None and rule.publish_run == "AllData"
        job = sim.state.latest_job(EXAMPLE_STUDY_ID, MODE, rule_id)
        assert job is not None and sim.state.job_status(job) == "Success"
    assert result["triggers"] == ["ClinicalOneRuleJobTrigger"]  # the sensor deferred, once


def test_gate_runs_the_downstream_step_after_rule_jobs_started_outside_it_succeed(
    airflow_env: dict[str, str], slow_sim: LiveSimulator
) -> None:
    sim = slow_sim
    start_rule_jobs(sim, GATED_RULES)
    before = {r: len(sim.state.rule(EXAMPLE_STUDY_ID, MODE, r).jobs) for r in GATED_RULES}  # type: ignore[union-attr]
    result = run_dag(
        airflow_env,
        sim,
        "gate_on_rule_jobs",
        {"rule_ids": GATED_RULES, "poll_interval_seconds": 1},
        scheduled=True,
    )
    assert result["state"] == "success", explain(result)
    assert states(result) == {"rule_jobs_succeeded": "success", "load_downstream": "success"}
    assert sorted(xcom(result, "rule_jobs_succeeded")["succeeded"]) == sorted(GATED_RULES)
    # the gate started nothing itself
    assert {r: len(sim.state.rule(EXAMPLE_STUDY_ID, MODE, r).jobs) for r in GATED_RULES} == before  # type: ignore[union-attr]


def test_gate_runs_without_a_data_interval_checking_the_day_before_the_run(
    airflow_env: dict[str, str], sim: LiveSimulator
) -> None:
    # A run triggered with no logical date (`{"logical_date": null}` through the REST API)
    # has no data_interval_start; the template falls back to the 24 h before the run.
    start_rule_jobs(sim, GATED_RULES)
    result = run_dag(
        airflow_env, sim, "gate_on_rule_jobs", {"rule_ids": GATED_RULES, "poll_interval_seconds": 1}
    )
    assert "UndefinedError" not in result["log"]
    assert result["state"] == "success", result["log"][-3000:]
    assert states(result) == {"rule_jobs_succeeded": "success", "load_downstream": "success"}


def test_a_green_run_logs_no_error_line(airflow_env: dict[str, str], sim: LiveSimulator) -> None:
    # No link template on the connections: Airflow reads each extra link's XCom when a task
    # ends, and an XCom never pushed is logged as "XCom not found" at error level.
    result = run_dag(airflow_env, sim, "republish_rules", REPUBLISH_CONF)
    assert result["state"] == "success", result["log"][-3000:]
    errors = [line for line in result["log"].splitlines() if "[error" in line or "XCom not found" in line]
    assert errors == []


def test_gate_stops_the_pipeline_when_a_rule_job_fails(
    airflow_env: dict[str, str], sim: LiveSimulator
) -> None:
    rules = [FAILING_RULE_ID, GATED_RULES[0]]
    start_rule_jobs(sim, rules)
    result = run_dag(
        airflow_env, sim, "gate_on_rule_jobs", {"rule_ids": rules, "poll_interval_seconds": 1}, scheduled=True
    )
    assert result["state"] == "failed"
    assert states(result) == {"rule_jobs_succeeded": "failed", "load_downstream": "upstream_failed"}
    assert result["tasks"]["rule_jobs_succeeded"]["try_number"] == 1  # a failed job is not retried
    assert f"{FAILING_RULE_ID} (job " in result["log"]
    assert "): Failed" in result["log"]
    job = sim.state.latest_job(EXAMPLE_STUDY_ID, MODE, FAILING_RULE_ID)
    assert job is not None and sim.state.job_status(job) == "Failed"


def test_cancel_stale_jobs_dry_run_reports_without_cancelling(
    airflow_env: dict[str, str], sim: LiveSimulator
) -> None:
    before = {j.job_id: j.status for j in sim.state.vault_jobs()}
    result = run_dag(airflow_env, sim, "cancel_stale_jobs", {"dry_run": True})
    assert result["state"] == "success"
    stale_rules = {s["rule_id"] for s in xcom(result, "cancel_stale_rule_jobs")["stale"]}
    assert {STALE_RULE_ID, UNCANCELLABLE_RULE_ID} <= stale_rules
    assert xcom(result, "cancel_stale_rule_jobs")["cancelled"] == []
    assert {j.job_id: j.status for j in sim.state.vault_jobs()} == before
    job = sim.state.latest_job(EXAMPLE_STUDY_ID, MODE, STALE_RULE_ID)
    assert job is not None and sim.state.job_status(job) == "Running"


def test_cancel_stale_jobs_cancels_stale_jobs_and_fails_naming_the_uncancellable(
    airflow_env: dict[str, str], sim: LiveSimulator
) -> None:
    result = run_dag(airflow_env, sim, "cancel_stale_jobs")
    assert states(result) == {"cancel_stale_rule_jobs": "failed", "cancel_stale_vault_jobs": "success"}
    rules = xcom(result, "cancel_stale_rule_jobs")
    assert STALE_RULE_ID in {c["rule_id"] for c in rules["cancelled"]}
    assert [(c["rule_id"], c["reason"]) for c in rules["not_cancelled"]] == [
        (UNCANCELLABLE_RULE_ID, "Failed to cancel job")
    ]
    assert f"{UNCANCELLABLE_RULE_ID}: Failed to cancel job" in result["log"]
    job = sim.state.latest_job(EXAMPLE_STUDY_ID, MODE, STALE_RULE_ID)
    assert job is not None and sim.state.job_status(job) == "Cancelled"
    stuck = sim.state.latest_job(EXAMPLE_STUDY_ID, MODE, UNCANCELLABLE_RULE_ID)
    assert stuck is not None and sim.state.job_status(stuck) == "Running"
    vault = xcom(result, "cancel_stale_vault_jobs")
    assert sorted(vault["cancelled"]) == [1046892]
    assert vault["running_not_cancellable"] == [1068337]
    statuses = {j.job_id: j.status for j in sim.state.vault_jobs()}
    assert statuses[1046892] in ("CANCELLING", "CANCELLED")
    assert statuses[1043341] == "SCHEDULED"  # scheduled for later: left alone
    assert statuses[1046893] == "QUEUED"  # another user's job: out of scope
    assert statuses[1068044] == "QUEUED"  # fresh: left alone
    assert statuses[1068337] == "RUNNING"
    # every job was cancelled exactly once
    cancels = [
        r
        for r in sim.state.request_log
        if r.path.endswith("/cancelRuleJob") or r.path.endswith("/actions/cancel")
    ]
    assert len(cancels) == 2
