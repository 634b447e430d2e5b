"""Clock-free publish evidence (``clients/publish_evidence.py``): job ids before the first send,
and which rules have a new one since."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

from clinical_rules_provider.clients import publish_evidence as pe
from clinical_rules_provider.clients.base import ApiRequest, Refused, reply_for
from clinical_rules_provider.clients.clinical_one import study_path_args
from clinical_rules_provider.exceptions import (
    ClinicalOneAPIError,
    ClinicalOneNotFoundError,
    ClinicalOneServerError,
    ClinicalOneValidationError,
    ClinicalRulesError,
    RateLimitedError,
    UnexpectedResponseError,
)
from tests.clients.test_clinical_one import RULE_A, RULE_B, RULE_C, STUDY, hyphenate, make_response

ARGS = study_path_args(STUDY, "test")
JOB_1 = "11111111111111111111111111111111"
JOB_2 = "22222222222222222222222222222222"


def run(exchange: Generator[Any, Any, Any], answer: Callable[[ApiRequest], Any]) -> tuple[Any, list[Any]]:
    """Answer each request with ``answer`` (a body, ``(status, body)``, or a ready reply)."""
    requests: list[ApiRequest] = []
    step = exchange.send(None)
    while True:
        replies = []
        for request in step:
            requests.append(request)
            reply = answer(request)
            if isinstance(reply, Refused):
                replies.append(reply)
                continue
            status, body = reply if isinstance(reply, tuple) else (200, reply)
            try:
                replies.append(reply_for(request, make_response(request, status, body)))
            except ClinicalRulesError as exc:  # what the transport does for ``report_errors``
                assert request.report_errors
                replies.append(Refused(exc))
        try:
            step = exchange.send(replies)
        except StopIteration as stop:
            return stop.value, requests


def bulk(*entries: Any) -> dict[str, Any]:
    return {"errorMessage": "Success", "jobStatus": list(entries)}


def history(*job_ids: str) -> dict[str, Any]:
    return {
        "status": "SUCCESS",
        "ruleHistory": [
            {"ruleId": RULE_A, "jobId": j, "jobStatus": "Success", "jobStartDate": "2025-01-01 00:00:00.000"}
            for j in job_ids
        ],
    }


# --- new_jobs -------------------------------------------------------------------------------


def test_a_rule_with_a_job_id_not_in_its_snapshot_maps_to_the_first_new_id() -> None:
    snapshot = {RULE_A: ["OLD"], RULE_B: ["OLD"]}
    assert pe.new_jobs(snapshot, {RULE_A: ["OLD", "NEW1", "NEW2"], RULE_B: ["OLD"], RULE_C: []}) == {
        RULE_A: "NEW1"
    }


def test_any_job_of_a_rule_missing_from_the_snapshot_is_new() -> None:
    assert pe.new_jobs({}, {RULE_A: ["J"]}) == {RULE_A: "J"}


# --- read_job_ids ---------------------------------------------------------------------------


def test_bulk_job_ids_are_grouped_per_requested_rule_in_their_compared_form() -> None:
    reply = bulk(
        {"ruleId": hyphenate(RULE_A).lower(), "jobId": hyphenate(JOB_1).lower()},
        {"ruleId": RULE_A, "jobId": 7},
        {"ruleId": RULE_C, "jobId": JOB_2},  # not requested
        {"ruleId": RULE_B, "jobId": None},  # names no job
        {"ruleId": 12, "jobId": JOB_2},  # names no rule
        "not an entry",
    )
    jobs, requests = run(pe.read_job_ids(ARGS, [RULE_A, RULE_B], "job_status", "UTC"), lambda r: reply)
    assert jobs == {RULE_A: [JOB_1, "7"], RULE_B: []}
    (request,) = requests
    assert (request.endpoint, request.method, request.json, request.report_errors) == (
        "get_job_status",
        "PUT",
        {"ruleIds": [RULE_A, RULE_B]},
        True,
    )
    assert request.path == f"/ec-rule-svc/rest/v2.0/studies/{STUDY}/test/jobStatus"


def test_one_bulk_entry_given_as_an_object_is_read() -> None:
    reply = {"errorMessage": "Success", "jobStatus": {"ruleId": RULE_A, "jobId": JOB_1}}
    jobs, _ = run(pe.read_job_ids(ARGS, [RULE_A], "job_status", "UTC"), lambda r: reply)
    assert jobs == {RULE_A: [JOB_1]}


def test_a_bulk_error_reply_is_refused_with_the_services_error() -> None:
    body = {"errorMessage": "Study not found", "errorCode": "C1-404"}
    reply, _ = run(pe.read_job_ids(ARGS, [RULE_A], "job_status", "UTC"), lambda r: (400, body))
    assert isinstance(reply, Refused)
    assert isinstance(reply.error, ClinicalOneValidationError)
    assert reply.error.code == "C1-404"


def test_a_failed_bulk_reply_with_entries_is_no_evidence() -> None:
    # Entries in an HTTP 500 are not read as job ids: the snapshot falls back to rerun history.
    body = bulk({"ruleId": RULE_A, "jobId": JOB_1}) | {"errorMessage": "boom"}
    with pytest.raises(UnexpectedResponseError) as info:
        pe._job_ids_page(make_response(ApiRequest("get_job_status", "PUT", "/x"), 500, body))
    assert info.value.message == "get_job_status: the reply carries no jobStatus list"
    assert info.value.status_code == 500


def test_a_bulk_reply_with_a_list_of_another_type_is_a_service_error() -> None:
    request = ApiRequest("get_job_status", "PUT", "/x")
    with pytest.raises(ClinicalOneAPIError, match=r"^get_job_status: unexpected response shape"):
        pe._job_ids_page(make_response(request, 200, {"errorMessage": "Success", "jobStatus": "none"}))


def test_history_job_ids_are_read_per_rule_and_not_found_means_none() -> None:
    def answer(request: ApiRequest) -> Any:
        assert (request.endpoint, request.method, request.report_errors) == ("get_rerun_history", "GET", True)
        if request.path.endswith(RULE_A):
            return history(JOB_1, JOB_2)
        return {"status": "NOT_FOUND", "statusDetail": "no history"}

    jobs, requests = run(pe.read_job_ids(ARGS, [RULE_A, RULE_B], "rerun_history", "UTC"), answer)
    assert jobs == {RULE_A: [JOB_1, JOB_2], RULE_B: []}
    assert requests[0].path == f"/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"


def test_a_history_404_without_a_not_found_status_is_refused_not_read_as_no_jobs() -> None:
    # docs/inferences.md: only a body saying NOT_FOUND means a rule has no jobs; read as "none",
    # an errorMessage envelope would let reconciliation publish again.
    body = {"errorMessage": "gone", "errorCode": "C1-404"}
    reply, _ = run(pe.read_job_ids(ARGS, [RULE_A], "rerun_history", "UTC"), lambda r: (404, body))
    assert isinstance(reply, Refused)
    assert (type(reply.error), reply.error.code) == (ClinicalOneNotFoundError, "C1-404")


def test_a_refused_history_read_is_the_reply() -> None:
    refused = Refused(ClinicalOneServerError("get_rerun_history: down", status_code=500))
    reply, _ = run(pe.read_job_ids(ARGS, [RULE_A], "rerun_history", "UTC"), lambda r: refused)
    assert reply is refused


# --- read_snapshot --------------------------------------------------------------------------


def refuse_bulk(error: ClinicalRulesError) -> Callable[[ApiRequest], Any]:
    def answer(request: ApiRequest) -> Any:
        if request.endpoint == "get_job_status":
            return Refused(error)
        return history(JOB_1)

    return answer


@pytest.mark.parametrize(
    "error",
    [
        ClinicalOneValidationError("not here", status_code=400),
        ClinicalOneAPIError("not here", status_code=404),
        ClinicalOneAPIError("no", status_code=499),
        UnexpectedResponseError("no list"),
    ],
    ids=["400", "404", "499", "unexpected"],
)
def test_a_bulk_endpoint_the_tenant_refuses_falls_back_to_rerun_history(error: ClinicalRulesError) -> None:
    (endpoint, jobs), _ = run(pe.read_snapshot(ARGS, [RULE_A], "job_status", "UTC"), refuse_bulk(error))
    assert (endpoint, jobs) == ("rerun_history", {RULE_A: [JOB_1]})


@pytest.mark.parametrize(
    "error",
    [
        ClinicalOneServerError("down", status_code=500),
        RateLimitedError("slow down", status_code=429),
        ClinicalOneAPIError("no status"),
        ClinicalOneAPIError("redirect", status_code=399),
    ],
    ids=["500", "429-transient", "no-status", "399"],
)
def test_any_other_snapshot_failure_is_raised(error: ClinicalRulesError) -> None:
    with pytest.raises(type(error)) as info:
        run(pe.read_snapshot(ARGS, [RULE_A], "job_status", "UTC"), refuse_bulk(error))
    assert info.value is error


def test_a_history_snapshot_refused_is_raised_without_another_fallback() -> None:
    error = ClinicalOneValidationError("no", status_code=400)
    with pytest.raises(ClinicalOneValidationError):
        run(pe.read_snapshot(ARGS, [RULE_A], "rerun_history", "UTC"), lambda r: Refused(error))


def test_the_snapshot_is_read_in_bulk_first() -> None:
    (endpoint, jobs), requests = run(
        pe.read_snapshot(ARGS, [RULE_A], "job_status", "UTC"),
        lambda r: bulk({"ruleId": RULE_A, "jobId": JOB_1}),
    )
    assert (endpoint, jobs) == ("job_status", {RULE_A: [JOB_1]})
    assert [r.endpoint for r in requests] == ["get_job_status"]


def test_an_unreadable_bulk_body_names_the_endpoint() -> None:
    with pytest.raises(ClinicalRulesError, match=r"^get_job_status: "):
        pe._job_ids_page(make_response(ApiRequest("get_job_status", "PUT", "/x"), 200, content=b"{"))


def test_a_bulk_body_that_is_no_object_is_a_service_error() -> None:
    with pytest.raises(ClinicalOneAPIError):
        pe._job_ids_page(make_response(ApiRequest("get_job_status", "PUT", "/x"), 200, ["no"]))


def test_a_failed_bulk_reply_with_dated_entries_is_no_evidence_either() -> None:
    entry = {"ruleId": RULE_A, "jobId": JOB_1, "jobStartDate": "2025-01-01 00:00:00.000"}
    body = bulk(entry) | {"errorMessage": "boom"}
    with pytest.raises(UnexpectedResponseError):
        pe._job_ids_page(make_response(ApiRequest("get_job_status", "PUT", "/x"), 500, body))
