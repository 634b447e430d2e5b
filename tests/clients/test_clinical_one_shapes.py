"""Clinical One replies in every shape the services send them (issue 23, items 1-3 and 6).

Driven through the hook against respx: only a body saying ``NOT_FOUND`` means "no history",
``jobStatus``/``ruleHistory`` may be one object or a list, a reply missing the list it must
carry is an error, and a cancel's HTTP 500 with per-rule entries is read, not retried.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider.exceptions import (
    ClinicalOneAPIError,
    ClinicalOneNotFoundError,
    UnexpectedResponseError,
)
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.operators.cancel import ClinicalOneCancelStaleRuleJobsOperator
from tests.conftest import RULE_A, RULE_B, STUDY, ConnFactory

BASE = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test"
HISTORY_A = f"{BASE}/rerunhistory/{RULE_A}"
CANCEL = f"{BASE}/cancelRuleJob"
JOB_STATUS = f"https://c1.test/ec-rule-svc/rest/v2.0/studies/{STUDY}/test/jobStatus"
JOB_A = "0E2428167F66445BAB544C7CDD884E87"
ENTRY_A = {
    "ruleId": RULE_A,
    "jobId": JOB_A,
    "jobStatus": "Cancelled",
    "ruleName": "Out of Range Visit Date",
    "jobStartDate": "2025-09-07 19:12:08.747",
}
HTML_404 = b"<html><body><h1>404 Not Found</h1>nginx</body></html>"


@pytest.fixture
def c1(make_conn: ConnFactory) -> str:
    return make_conn(
        "c1_shapes", "clinical_one", "c1.test", login="u", password="p", extra={"max_retries": 2}
    )


# --- item 1: only a body saying NOT_FOUND means "no history" -------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(404, content=HTML_404, headers={"Content-Type": "text/html"}),
        httpx.Response(404, content=b""),
        httpx.Response(404, json={"errorMessage": "No route for this path"}),
        httpx.Response(404, json={"timestamp": "2026-01-01T00:00:00Z", "status": 404, "error": "Not Found"}),
    ],
    ids=["html-page", "empty", "envelope-without-not-found", "gateway-json"],
)
@respx.mock
def test_latest_jobs_a_404_without_a_not_found_body_is_an_error_not_no_history(
    c1: str, reply: httpx.Response
) -> None:
    respx.get(HISTORY_A).mock(return_value=reply)
    with pytest.raises(ClinicalOneAPIError) as info:
        ClinicalOneHook(c1).latest_jobs(STUDY, "test", [RULE_A])
    assert info.value.status_code == 404
    assert info.value.code != "NOT_FOUND"


@pytest.mark.parametrize("http_status", [200, 404])
@respx.mock
def test_latest_jobs_a_body_saying_not_found_means_no_history(c1: str, http_status: int) -> None:
    body = {"status": "NOT_FOUND", "statusDetail": "Rule execution job not found.", "ruleHistory": []}
    respx.get(HISTORY_A).mock(return_value=httpx.Response(http_status, json=body))
    assert ClinicalOneHook(c1).latest_jobs(STUDY, "test", [RULE_A]) == {RULE_A: []}


@respx.mock
def test_get_rerun_history_a_bare_404_is_not_a_not_found_error(c1: str) -> None:
    respx.get(HISTORY_A).mock(return_value=httpx.Response(404, content=HTML_404))
    with pytest.raises(ClinicalOneAPIError) as info:
        ClinicalOneHook(c1).get_rerun_history(STUDY, "test", RULE_A)
    assert not isinstance(info.value, ClinicalOneNotFoundError)


@respx.mock
def test_stale_detection_fails_on_a_bare_404_instead_of_finding_nothing(c1: str) -> None:
    respx.get(HISTORY_A).mock(return_value=httpx.Response(404, content=HTML_404))
    task = ClinicalOneCancelStaleRuleJobsOperator(
        task_id="stale",
        clinical_one_conn_id=c1,
        study_id=STUDY,
        study_mode="test",
        rule_ids=[RULE_A],
        older_than=timedelta(hours=1),
    )
    with pytest.raises(ClinicalOneAPIError, match="HTTP 404"):
        task.execute({})


# --- item 2: one object is one entry ---------------------------------------------------------


@respx.mock
def test_cancel_reads_oracles_one_object_job_status_as_one_entry(c1: str) -> None:
    respx.put(CANCEL).mock(
        return_value=httpx.Response(200, json={"errorMessage": "Success", "jobStatus": ENTRY_A})
    )
    result = ClinicalOneHook(c1).cancel_rule_jobs(STUDY, "test", [RULE_A])
    assert [(j.rule_id, j.job_id, j.status) for j in result.cancelled] == [(RULE_A, JOB_A, "Cancelled")]
    assert (result.status, result.missing_rule_ids) == ("Success", [])


@respx.mock
def test_job_status_reads_one_object_job_status_as_one_entry(c1: str) -> None:
    entry = {**ENTRY_A, "jobStatus": "Running"}
    respx.put(JOB_STATUS).mock(
        return_value=httpx.Response(200, json={"errorMessage": "Success", "jobStatus": entry})
    )
    jobs = ClinicalOneHook(c1).latest_jobs(STUDY, "test", [RULE_A], poll_endpoint="job_status")
    assert [(j.job_id, j.status) for j in jobs[RULE_A]] == [(JOB_A, "Running")]


@respx.mock
def test_rerun_history_reads_the_original_pages_one_object_rule_history_as_one_entry(c1: str) -> None:
    entry = {**ENTRY_A, "jobStatus": "Success", "countPassedSubjects": 3, "countFailedSubjects": 0}
    respx.get(HISTORY_A).mock(
        return_value=httpx.Response(200, json={"ruleHistory": entry, "status": "success"})
    )
    history = ClinicalOneHook(c1).get_rerun_history(STUDY, "test", RULE_A)
    assert [(j.job_id, j.status, j.count_passed_subjects) for j in history.rule_history] == [
        (JOB_A, "Success", 3)
    ]


# --- item 3: a reply lacking its list is an error, never "no jobs" ----------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"errorMessage": "Success", "jobStatusList": [ENTRY_A]},
        {"errorMessage": "Success"},
        {"status": "Success", "jobs": [ENTRY_A]},
    ],
    ids=["jobStatusList", "outcome-only", "other-key"],
)
@respx.mock
def test_job_status_a_reply_without_the_job_status_list_is_unexpected(c1: str, body: dict[str, Any]) -> None:
    respx.put(JOB_STATUS).mock(return_value=httpx.Response(200, json=body))
    hook = ClinicalOneHook(c1)
    with pytest.raises(UnexpectedResponseError, match="no jobStatus list"):
        hook.latest_jobs(STUDY, "test", [RULE_A, RULE_B], poll_endpoint="job_status")
    with pytest.raises(UnexpectedResponseError):
        hook.get_job_status(STUDY, "test", [RULE_A])


@respx.mock
def test_cancel_a_success_reply_without_the_job_status_list_is_unexpected(c1: str) -> None:
    respx.put(CANCEL).mock(return_value=httpx.Response(200, json={"errorMessage": "Success"}))
    with pytest.raises(UnexpectedResponseError, match="cancel_rule_jobs: the reply has no jobStatus list"):
        ClinicalOneHook(c1).cancel_rule_jobs(STUDY, "test", [RULE_A])


@respx.mock
def test_rerun_history_a_success_reply_without_rule_history_is_unexpected(c1: str) -> None:
    respx.get(HISTORY_A).mock(return_value=httpx.Response(200, json={"status": "SUCCESS"}))
    with pytest.raises(UnexpectedResponseError, match="no ruleHistory"):
        ClinicalOneHook(c1).latest_jobs(STUDY, "test", [RULE_A])


# --- item 6: a cancel's HTTP 500 carrying per-rule entries is read, not retried ---------------


@respx.mock
def test_cancel_a_500_with_per_rule_entries_is_parsed_once_not_retried(c1: str) -> None:
    failed = {**ENTRY_A, "ruleId": RULE_B, "jobId": "1E2428167F66445BAB544C7CDD884E87"}
    failed["jobStatus"] = "Failed to cancel job"
    body = {"errorMessage": "1 job could not be cancelled", "jobStatus": [ENTRY_A, failed]}
    route = respx.put(CANCEL).mock(return_value=httpx.Response(500, json=body))
    result = ClinicalOneHook(c1).cancel_rule_jobs(STUDY, "test", [RULE_A, RULE_B])
    assert route.call_count == 1
    assert [j.rule_id for j in result.cancelled] == [RULE_A]
    assert [(j.rule_id, j.status) for j in result.not_cancelled] == [(RULE_B, "Failed to cancel job")]
    assert result.messages == ["1 job could not be cancelled"]


@respx.mock
def test_cancel_a_500_without_entries_is_still_retried_as_a_server_fault(c1: str) -> None:
    route = respx.put(CANCEL).mock(
        side_effect=[
            httpx.Response(500, json={"errorMessage": "Internal error", "jobStatus": []}),
            httpx.Response(200, json={"errorMessage": "Success", "jobStatus": [ENTRY_A]}),
        ]
    )
    result = ClinicalOneHook(c1).cancel_rule_jobs(STUDY, "test", [RULE_A])
    assert route.call_count == 2
    assert [j.rule_id for j in result.cancelled] == [RULE_A]
