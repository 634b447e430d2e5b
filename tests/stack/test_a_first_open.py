"""What `make up` shows first (this module runs first, on the fresh stack): no red run, no
blocked queue, and task links that open the simulator's pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinical_rules_provider.testing import EXAMPLE_STUDY_ID
from tests.stack.client import ROOT, TERMINAL_RUN_STATES, Airflow, wait_until

pytestmark = pytest.mark.stack

EXAMPLES = {p.stem for p in (ROOT / "example_dags").glob("*.py")}
# Examples that need a setting of the user's (rule ids) or act for real (cancelling) start paused.
STARTS_PAUSED = {"gate_on_rule_jobs", "cancel_stale_jobs"}


def test_the_examples_that_need_a_setting_start_paused_saying_what_to_set(airflow: Airflow) -> None:
    dags = airflow.dags()
    assert {d for d in EXAMPLES if dags[d]["is_paused"]} == STARTS_PAUSED
    assert "rule_ids" in dags["gate_on_rule_jobs"]["description"]
    assert "dry_run" in dags["cancel_stale_jobs"]["description"]


def test_first_open_has_no_red_run_and_no_blocked_queue(airflow: Airflow) -> None:
    # republish_rules is unpaused and its schedule has a past slot: its first scheduled run
    # starts at once and must end green (its sensor polls every 2 min by default).
    wait_until("republish_rules' first scheduled run", lambda: airflow.runs("republish_rules"), 120)

    def settled() -> dict[str, list[dict[str, Any]]]:
        runs = {dag_id: airflow.runs(dag_id) for dag_id in EXAMPLES}
        done = all(r["state"] in TERMINAL_RUN_STATES for dag_runs in runs.values() for r in dag_runs)
        return runs if done else {}

    runs = wait_until("every example run to finish", settled, 600, every=5)
    red = {d: [r["state"] for r in rs if r["state"] != "success"] for d, rs in runs.items()}
    assert {d: states for d, states in red.items() if states} == {}
    assert [r["run_type"] for r in runs["republish_rules"]] == ["scheduled"]
    assert runs["gate_on_rule_jobs"] == [] and runs["cancel_stale_jobs"] == []


def test_the_asset_example_runs_and_its_task_link_opens_the_simulators_rules_page(airflow: Airflow) -> None:
    # The stack names the simulator as CLINICAL_ONE_ASSET_HOST, so the outlet is the right asset.
    run_id = airflow.trigger("rules_asset_publisher")
    assert airflow.wait_run("rules_asset_publisher", run_id)["state"] == "success"
    link = airflow.links("rules_asset_publisher", run_id, "republish")["Clinical One rules"]
    assert link == f"{airflow.sim_url}/_sim/ui/studies/{EXAMPLE_STUDY_ID}/test/rules"
    page = httpx.get(link, timeout=30)
    assert page.status_code == 200 and "simulator" in page.text
    consumer = wait_until("the consumer's run", lambda: airflow.runs("rules_asset_consumer"), 120)
    assert airflow.wait_run("rules_asset_consumer", consumer[0]["dag_run_id"])["state"] == "success"
