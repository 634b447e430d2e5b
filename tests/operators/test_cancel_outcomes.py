"""Cancel outcomes filed as the services mean them (issue 23, item 6).

Rule-state answers to a Clinical One cancel are "not cancelled", with the reason; Vault
cancel results are matched to jobs by the id Vault names, not by position only.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.hooks.vault import VaultHook
from clinical_rules_provider.operators.cancel import (
    ClinicalOneCancelRuleJobsOperator,
    VaultCancelJobsOperator,
)
from tests.conftest import RULE_A, RULE_B, RULE_C, STUDY
from tests.operators.conftest import FakeTI

CANCEL = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/cancelRuleJob"
VAULT_BASE = "https://vault.test/api/v26.1"
RULE_D = "704A7178208D44BC9AD52556B18933C3"


def _entry(rule_id: str, status: str, job_id: str | None = None) -> dict[str, Any]:
    entry = {"ruleId": rule_id, "jobStatus": status}
    return {**entry, "jobId": job_id} if job_id else entry


@pytest.mark.parametrize(
    "status",
    ["Rule is disabled", "Rule is not in publish state", "Rule is invalid", "Rule doesn't exist"],
)
@respx.mock
def test_a_rule_state_answer_to_a_cancel_is_not_cancelled_with_its_reason(
    c1_conn: str, ti: FakeTI, status: str
) -> None:
    body = {"errorMessage": "Success", "jobStatus": [_entry(RULE_A, status)]}
    respx.put(CANCEL).mock(return_value=httpx.Response(200, json=body))
    task = ClinicalOneCancelRuleJobsOperator(
        task_id="cancel", clinical_one_conn_id=c1_conn, rule_ids=[RULE_A], study_id=STUDY, study_mode="test"
    )
    with pytest.raises(AirflowException, match=f"{RULE_A}: {status}"):
        task.execute({"ti": ti})
    report = ti.pushed("return_value")
    assert report["already_finished"] == []
    assert [(i["rule_id"], i["reason"]) for i in report["not_cancelled"]] == [(RULE_A, status)]


@respx.mock
def test_job_outcomes_to_a_cancel_are_already_finished(c1_conn: str, ti: FakeTI) -> None:
    job = "0E2428167F66445BAB544C7CDD884E87"
    entries = [
        _entry(RULE_A, "Success", job),
        _entry(RULE_B, "Completed with errors", job),
        _entry(RULE_C, "Skipped because subject is locked", job),
        _entry(RULE_D, "Failed", job),
    ]
    respx.put(CANCEL).mock(
        return_value=httpx.Response(200, json={"errorMessage": "Success", "jobStatus": entries})
    )
    task = ClinicalOneCancelRuleJobsOperator(
        task_id="cancel",
        clinical_one_conn_id=c1_conn,
        rule_ids=[RULE_A, RULE_B, RULE_C, RULE_D],
        study_id=STUDY,
        study_mode="test",
    )
    report = task.execute({"ti": ti})
    assert [i["rule_id"] for i in report["already_finished"]] == [RULE_A, RULE_B, RULE_C, RULE_D]
    assert report["not_cancelled"] == []


# --- Vault: results cross-checked with data.id ------------------------------------------------


def _vault(items: list[dict[str, Any]], statuses: dict[int, str] | None = None) -> respx.Route:
    respx.post(f"{VAULT_BASE}/auth").mock(
        return_value=httpx.Response(
            200, json={"responseStatus": "SUCCESS", "sessionId": "s1", "userId": 42, "vaultIds": []}
        )
    )
    for job_id, status in (statuses or {}).items():
        respx.get(f"{VAULT_BASE}/services/jobs/{job_id}").mock(
            return_value=httpx.Response(
                200, json={"responseStatus": "SUCCESS", "data": {"id": job_id, "status": status}}
            )
        )
    return respx.post(f"{VAULT_BASE}/services/jobs/actions/cancel").mock(
        return_value=httpx.Response(200, json={"responseStatus": "SUCCESS", "data": items})
    )


def _ok(job_id: int) -> dict[str, Any]:
    return {"responseStatus": "SUCCESS", "data": {"id": job_id}}


def _refused(job_id: int) -> dict[str, Any]:
    message = f"Job [{job_id}] is not found in QUEUED or QUEUEING state"
    return {"responseStatus": "FAILURE", "errors": {"type": "INVALID_DATA", "message": message}}


@respx.mock
def test_vault_cancel_results_in_another_order_are_matched_by_the_id_vault_names(vault_conn: str) -> None:
    # Job 12 was refused, 11 and 13 cancelled; the reply lists 13 first, then 11.
    _vault([_ok(13), _ok(11), _refused(12)])
    results = VaultHook(vault_conn).cancel_jobs([11, 12, 13])
    assert [(r.job_id, r.cancelled) for r in results] == [(11, True), (12, False), (13, True)]


@respx.mock
def test_vault_cancel_result_naming_an_unrequested_job_is_never_counted_as_cancelled(vault_conn: str) -> None:
    _vault([_ok(11), _ok(999)])
    results = VaultHook(vault_conn).cancel_jobs([11, 12])
    assert [(r.job_id, r.cancelled) for r in results] == [(11, True), (12, False)]
    assert results[1].reason is not None
    assert "999" in results[1].reason and "12" in results[1].reason


@respx.mock
def test_vault_cancel_operator_fails_loudly_on_a_mismatched_result(vault_conn: str, ti: FakeTI) -> None:
    _vault([_ok(999)], statuses={12: "QUEUED"})
    task = VaultCancelJobsOperator(task_id="cancel", vault_conn_id=vault_conn, job_ids=[12])
    with pytest.raises(AirflowException, match="names job 999 where job 12 was expected"):
        task.execute({"ti": ti})
    assert ti.pushed("return_value")["cancelled"] == []


@respx.mock
def test_vault_cancel_result_with_a_non_ascii_digit_id_is_matched_by_position(vault_conn: str) -> None:
    _vault([{"responseStatus": "SUCCESS", "data": {"id": "1\u00b2"}}, _refused(12)])
    results = VaultHook(vault_conn).cancel_jobs([11, 12])
    assert [(r.job_id, r.cancelled) for r in results] == [(11, True), (12, False)]
