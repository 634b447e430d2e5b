"""The cancel-by-id operators take ids as one templated string too: one id, comma-separated
ids, or a JSON list (what a rendered template gives them)."""

from __future__ import annotations

import json
from typing import Any

from clinical_rules_provider.operators.cancel import (
    ClinicalOneCancelRuleJobsOperator,
    VaultCancelJobsOperator,
)
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import RULE_B, STUDY

STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h, cancellable
QUEUED_STALE = 1046892  # QUEUED, created 3 h ago
SCHEDULED_STALE = 1043341  # SCHEDULED, created 3 h ago


def rule_status(simulator: LiveSimulator, rule_id: str) -> str:
    job = simulator.state.latest_job(STUDY, "test", rule_id)
    assert job is not None
    return simulator.state.job_status(job)


def test_cancel_rule_jobs_takes_one_rule_id_string(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    task = ClinicalOneCancelRuleJobsOperator(
        task_id="cancel", rule_ids=STALE_RULE, clinical_one_conn_id=sim_c1
    )
    report = task.execute(context)
    assert [item["rule_id"] for item in report["cancelled"]] == [STALE_RULE]
    assert rule_status(simulator, STALE_RULE) == "Cancelled"


def test_cancel_rule_jobs_takes_comma_separated_rule_ids(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    task = ClinicalOneCancelRuleJobsOperator(
        task_id="cancel", rule_ids=f"{STALE_RULE.lower()}, {RULE_B}", clinical_one_conn_id=sim_c1
    )
    report = task.execute(context)
    assert [item["rule_id"] for item in report["cancelled"]] == [STALE_RULE]
    assert [item["rule_id"] for item in report["already_finished"]] == [RULE_B]


def test_vault_cancel_takes_one_job_id_string(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    task = VaultCancelJobsOperator(task_id="vc", job_ids=str(QUEUED_STALE), vault_conn_id=sim_vault)
    assert task.execute(context)["cancelled"] == [QUEUED_STALE]
    [request] = simulator.state.requests_to("/actions/cancel")
    assert request.json() == [{"job_id": QUEUED_STALE}]


def test_vault_cancel_takes_a_json_list_string(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    ids = json.dumps([QUEUED_STALE, SCHEDULED_STALE])
    task = VaultCancelJobsOperator(task_id="vc", job_ids=ids, vault_conn_id=sim_vault)
    assert task.execute(context)["cancelled"] == [QUEUED_STALE, SCHEDULED_STALE]
