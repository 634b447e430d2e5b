"""Vault endpoint specs (``clinical_rules_provider.clients.vault``), driven by hand."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from clinical_rules_provider.clients import vault
from clinical_rules_provider.clients.base import ApiRequest, Delay, after_delay, reply_for
from clinical_rules_provider.exceptions import (
    ClinicalRulesError,
    RateLimitedError,
    TransientServiceError,
    VaultAPIError,
    VaultSessionError,
)
from clinical_rules_provider.models.enums import VaultJobStatus
from clinical_rules_provider.models.ids import vault_job_id
from clinical_rules_provider.models.refs import VaultJobIds
from clinical_rules_provider.models.vault import VaultJob, VaultJobCancelResult


# The boundary (a public hook method) checks the ids; the client trusts them.
def cancel_jobs(job_ids: object, **kw: Any) -> Any:
    return vault.cancel_jobs(VaultJobIds.of(job_ids), **kw)


def get_job_status(job_id: object, **kw: Any) -> Any:
    return vault.get_job_status(vault_job_id(job_id, "job_id"), **kw)


BASE = "https://vault.test"
CANCEL_PATH = "/api/v26.1/services/jobs/actions/cancel"

# api-docs/vault-cancel-jobs.txt, response example (literal).
CANCEL_REFERENCE_RESPONSE = {
    "responseStatus": "SUCCESS",
    "data": [
        {"responseStatus": "SUCCESS", "data": {"id": 1068044}},
        {
            "responseStatus": "FAILURE",
            "errors": {
                "type": "INVALID_DATA",
                "message": "Job [1068337] is not found in QUEUED or QUEUEING state",
            },
        },
    ],
}

Answer = Callable[[ApiRequest], Any]


def make_response(
    request: ApiRequest,
    status: int = 200,
    body: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    http_request = httpx.Request(
        request.method, BASE + request.path, params=request.params, json=request.json
    )
    if content is not None:
        return httpx.Response(status, content=content, headers=headers, request=http_request)
    return httpx.Response(status, json=body, headers=headers, request=http_request)


def drive(exchange: Generator[Any, Any, Any], answer: Answer) -> tuple[Any, list[Any]]:
    """Answer each request with ``answer(request)`` (Response | (status, body) | body); Delays get ``None``."""
    steps: list[Any] = []
    step = exchange.send(None)
    while True:
        steps.append(step)
        if isinstance(step, Delay):
            replies = None
        else:
            replies = []
            for request in step:
                reply = answer(request)
                if isinstance(reply, tuple):
                    reply = make_response(request, *reply)
                elif not isinstance(reply, httpx.Response):
                    reply = make_response(request, 200, reply)
                replies.append(reply_for(request, reply))
        try:
            step = exchange.send(replies)
        except StopIteration as stop:
            return stop.value, steps


def sent(steps: list[Any]) -> list[ApiRequest]:
    return [r for step in steps if isinstance(step, list) for r in step]


def sent_json(request: ApiRequest) -> Any:
    """The JSON body a request puts on the wire."""
    return request.json


def success_for(request: ApiRequest) -> dict[str, Any]:
    return {
        "responseStatus": "SUCCESS",
        "data": [{"responseStatus": "SUCCESS", "data": {"id": row["job_id"]}} for row in sent_json(request)],
    }


def failure(type_: str, message: str = "boom", *, as_list: bool = True) -> dict[str, Any]:
    error = {"type": type_, "message": message}
    return {"responseStatus": "FAILURE", "errors": [error] if as_list else error}


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_jobs_posts_a_job_id_list_as_json_to_the_cancel_path() -> None:
    exchange = cancel_jobs([1046892, "1043341"])
    (request,) = exchange.send(None)
    assert request.method == "POST"
    assert request.path == CANCEL_PATH
    assert request.json == [{"job_id": 1046892}, {"job_id": 1043341}]
    assert request.headers is not None
    assert {k.lower(): v for k, v in request.headers.items()}["content-type"] == "application/json"


def test_cancel_jobs_uses_the_given_api_version() -> None:
    (request,) = cancel_jobs([1], api_version="v25.2").send(None)
    assert request.path == "/api/v25.2/services/jobs/actions/cancel"


def test_cancel_jobs_sends_ints_and_drops_duplicates_in_order() -> None:
    (request,) = cancel_jobs(["7", 3, 7, "0003", 9]).send(None)
    assert sent_json(request) == [{"job_id": 7}, {"job_id": 3}, {"job_id": 9}]


def test_cancel_jobs_splits_1001_ids_into_three_chunks_and_merges_results_in_order() -> None:
    ids = list(range(1, 1002))
    results, steps = drive(cancel_jobs(ids), success_for)
    requests = sent(steps)
    assert len(steps) == 1
    assert [len(sent_json(r)) for r in requests] == [500, 500, 1]
    assert [row["job_id"] for r in requests for row in sent_json(r)] == ids
    assert [r.job_id for r in results] == ids
    assert all(r.cancelled for r in results)


def test_cancel_jobs_maps_the_reference_answer_item_by_item() -> None:
    results, _ = drive(cancel_jobs([1068044, 1068337]), lambda req: CANCEL_REFERENCE_RESPONSE)
    assert all(isinstance(r, VaultJobCancelResult) for r in results)
    ok, refused = results
    assert (ok.job_id, ok.response_status, ok.cancelled) == (1068044, "SUCCESS", True)
    assert (refused.job_id, refused.response_status, refused.cancelled) == (1068337, "FAILURE", False)
    assert refused.reason == "INVALID_DATA: Job [1068337] is not found in QUEUED or QUEUEING state"


def test_cancel_jobs_failure_items_are_matched_by_position() -> None:
    def answer(request: ApiRequest) -> dict[str, Any]:
        return {
            "responseStatus": "SUCCESS",
            "data": [
                {
                    "responseStatus": "FAILURE",
                    "errors": [{"type": "INVALID_DATA", "message": "job 11 running"}],
                },
                {"responseStatus": "SUCCESS", "data": {"id": 22}},
                {"responseStatus": "FAILURE", "errors": {"type": "INVALID_DATA", "message": "job 33 done"}},
            ],
        }

    results, _ = drive(cancel_jobs([11, 22, 33]), answer)
    assert [(r.job_id, r.cancelled) for r in results] == [(11, False), (22, True), (33, False)]
    assert results[0].reason == "INVALID_DATA: job 11 running"
    assert results[2].reason == "INVALID_DATA: job 33 done"


def test_cancel_jobs_reports_jobs_without_an_answer_item_as_missing() -> None:
    def answer(request: ApiRequest) -> dict[str, Any]:
        return {"responseStatus": "SUCCESS", "data": [{"responseStatus": "SUCCESS", "data": {"id": 1}}]}

    results, _ = drive(cancel_jobs([1, 2, 3]), answer)
    assert [(r.job_id, r.response_status) for r in results] == [
        (1, "SUCCESS"),
        (2, "MISSING"),
        (3, "MISSING"),
    ]
    assert not results[1].cancelled
    assert results[1].errors[0].type == "MISSING_RESULT"
    assert results[1].reason is not None and "MISSING_RESULT" in results[1].reason


def test_cancel_jobs_a_malformed_item_is_reported_as_missing() -> None:
    results, _ = drive(
        cancel_jobs([1, 2]),
        lambda req: {
            "responseStatus": "SUCCESS",
            "data": ["oops", {"responseStatus": "SUCCESS", "data": {"id": 2}}],
        },
    )
    assert [(r.job_id, r.response_status) for r in results] == [(1, "MISSING"), (2, "SUCCESS")]


@pytest.mark.parametrize("as_list", [True, False], ids=["errors-list", "errors-object"])
def test_cancel_jobs_top_level_failure_raises_vault_api_error_with_the_code(as_list: bool) -> None:
    with pytest.raises(VaultAPIError) as info:
        drive(
            cancel_jobs([1]),
            lambda req: failure("INSUFFICIENT_ACCESS", "no permission", as_list=as_list),
        )
    assert not isinstance(info.value, VaultSessionError)
    assert info.value.code == "INSUFFICIENT_ACCESS"
    assert "no permission" in info.value.message
    assert "cancel_jobs" in info.value.message


def test_cancel_jobs_exception_status_raises_vault_api_error() -> None:
    with pytest.raises(VaultAPIError) as info:
        drive(
            cancel_jobs([1]),
            lambda req: {"responseStatus": "EXCEPTION", "errors": [{"type": "UNEXPECTED_ERROR"}]},
        )
    assert info.value.code == "UNEXPECTED_ERROR"


def test_cancel_jobs_invalid_session_raises_vault_session_error() -> None:
    with pytest.raises(VaultSessionError) as info:
        drive(
            cancel_jobs([1]),
            lambda req: failure("INVALID_SESSION_ID", "Invalid or expired session ID."),
        )
    assert info.value.code == "INVALID_SESSION_ID"


@pytest.mark.parametrize("http_status", [200, 429])
def test_cancel_jobs_api_limit_exceeded_raises_rate_limited_error(http_status: int) -> None:
    with pytest.raises(RateLimitedError) as info:
        drive(cancel_jobs([1]), lambda req: (http_status, failure("API_LIMIT_EXCEEDED", "limit")))
    assert isinstance(info.value, TransientServiceError)
    assert info.value.status_code == http_status


def test_cancel_jobs_http_error_without_an_envelope_raises_vault_api_error() -> None:
    with pytest.raises(VaultAPIError) as info:
        drive(cancel_jobs([1]), lambda req: make_response(req, 500, content=b"<html>oops</html>"))
    assert info.value.status_code == 500


def test_cancel_jobs_success_without_a_data_list_raises_vault_api_error() -> None:
    with pytest.raises(VaultAPIError, match="no per-job data list"):
        drive(cancel_jobs([1]), lambda req: {"responseStatus": "SUCCESS"})


def test_cancel_jobs_malformed_json_raises_a_transient_error() -> None:
    with pytest.raises(TransientServiceError):
        drive(cancel_jobs([1]), lambda req: make_response(req, 200, content=b'{"responseStatus": "SUC'))


@pytest.mark.parametrize(
    ("job_ids", "pattern"),
    [
        ([], r"^job_ids: expected a non-empty list"),
        ("1046892", r"^job_ids: expected a non-empty list, got str"),
        (None, r"^job_ids: expected a non-empty list"),
        ([1, 2, "12a"], r"^job_ids\[2\]: '12a' is not a Vault job id"),
        ([1, True], r"^job_ids\[1\]: expected a positive integer job id, got a bool"),
        ([0], r"^job_ids\[0\]: 0 is not a Vault job id"),
        ([-4], r"^job_ids\[0\]: -4 is not a Vault job id"),
        ([1.0], r"^job_ids\[0\]: 1\.0 is not a Vault job id"),
    ],
)
def test_cancel_jobs_rejects_bad_ids_at_call_time(job_ids: object, pattern: str) -> None:
    # Raised by the call itself, not when the exchange first steps: a lazy check would not raise here.
    with pytest.raises(ValueError, match=pattern):
        cancel_jobs(job_ids)


# --- job status -------------------------------------------------------------------------------

# Vault's Retrieve Job Status example response.
JOB_STATUS_RESPONSE = {
    "responseStatus": "SUCCESS",
    "responseMessage": "OK",
    "data": {
        "id": 1201,
        "status": "SUCCESS",
        "method": "POST",
        "links": [
            {
                "rel": "self",
                "href": "/api/v26.2/services/jobs/1601",
                "method": "GET",
                "accept": "application/json",
            }
        ],
        "created_by": 44533,
        "created_date": "2016-04-20T18:14:42.000Z",
        "run_start_date": "2016-04-20T18:14:43.000Z",
        "run_end_date": "2016-04-20T18:14:44.000Z",
    },
}


@pytest.mark.parametrize("job_id", [1201, "1201"])
def test_get_job_status_gets_the_job_path(job_id: object) -> None:
    (request,) = get_job_status(job_id).send(None)
    assert request.method == "GET"
    assert request.path == "/api/v26.1/services/jobs/1201"
    assert request.json is None


@pytest.mark.parametrize("job_id", ["abc", 0, -1, True, None, "../1"], ids=repr)
def test_get_job_status_rejects_bad_ids_at_call_time_naming_the_field(job_id: object) -> None:
    # Raised by the call itself, not when the exchange first steps: a lazy check would not raise here.
    with pytest.raises(ValueError, match=r"^job_id: "):
        get_job_status(job_id)


def test_get_job_status_parses_the_data_object() -> None:
    job, _ = drive(get_job_status(1201), lambda req: JOB_STATUS_RESPONSE)
    assert isinstance(job, VaultJob)
    assert job.job_id == 1201
    assert job.status is VaultJobStatus.SUCCESS
    assert job.is_terminal is True
    assert job.run_end_date == datetime(2016, 4, 20, 18, 14, 44, tzinfo=timezone.utc)


def test_get_job_status_keeps_an_unknown_status_as_a_string() -> None:
    body = {"responseStatus": "SUCCESS", "data": {"id": 5, "status": "ON_HOLD"}}
    job, _ = drive(get_job_status(5), lambda req: body)
    assert job.status == "ON_HOLD"
    assert job.is_terminal is False


def test_get_job_status_api_limit_exceeded_raises_rate_limited_error() -> None:
    with pytest.raises(RateLimitedError):
        drive(
            get_job_status(5),
            lambda req: failure("API_LIMIT_EXCEEDED", "once every 10 seconds", as_list=False),
        )


def test_get_job_status_failure_raises_vault_api_error_with_code() -> None:
    with pytest.raises(VaultAPIError) as info:
        drive(get_job_status(5), lambda req: failure("INVALID_DATA", "Job [5] not found"))
    assert info.value.code == "INVALID_DATA"


def test_get_job_status_without_a_data_object_raises_vault_api_error() -> None:
    with pytest.raises(VaultAPIError, match="no data object"):
        drive(get_job_status(5), lambda req: {"responseStatus": "SUCCESS", "data": []})


def test_get_job_status_data_without_a_job_id_raises_a_provider_error_not_value_error() -> None:
    # DESIGN.md reserves ValueError for input rejected before sending; a malformed answer
    # must surface as a provider error (ClinicalRulesError), not pydantic's ValidationError.
    with pytest.raises(ClinicalRulesError):
        drive(get_job_status(5), lambda req: {"responseStatus": "SUCCESS", "data": {"status": "RUNNING"}})


def test_after_delay_asks_for_the_wait_before_the_first_request() -> None:
    job, steps = drive(after_delay(2.5, get_job_status(1201)), lambda req: JOB_STATUS_RESPONSE)
    assert steps[0] == Delay(2.5)
    assert isinstance(steps[1], list) and steps[1][0].path == "/api/v26.1/services/jobs/1201"
    assert job.job_id == 1201


def test_after_delay_without_a_wait_yields_no_delay() -> None:
    _, steps = drive(after_delay(0, get_job_status(1201)), lambda req: JOB_STATUS_RESPONSE)
    assert not any(isinstance(s, Delay) for s in steps)


# --- error helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (failure("INVALID_SESSION_ID", as_list=False), {"INVALID_SESSION_ID"}),
        (
            {"responseStatus": "EXCEPTION", "errors": [{"type": "A"}, {"type": "B"}, {"message": "no type"}]},
            {"A", "B"},
        ),
        ({"responseStatus": "SUCCESS", "errors": [{"type": "A"}]}, set()),
        ("text", set()),
    ],
    ids=["object", "list", "success", "not-a-dict"],
)
def test_error_types_reads_errors_given_as_an_object_or_a_list(body: Any, expected: set[str]) -> None:
    assert vault.error_types(body) == expected


def test_raise_for_vault_error_is_quiet_for_success() -> None:
    request = ApiRequest("x", "GET", "/api/v26.1/x")
    vault.raise_for_vault_error(
        make_response(request, 200, {"responseStatus": "SUCCESS"}), {"responseStatus": "SUCCESS"}, "x"
    )


def test_auth_request_posts_form_credentials_that_never_show_in_its_repr() -> None:
    request = vault.auth_request("v26.1", "user@example.com", "s3cr3t-Pa55")
    assert (request.method, request.path) == ("POST", "/api/v26.1/auth")
    assert request.data == {"username": "user@example.com", "password": "s3cr3t-Pa55"}
    assert "s3cr3t-Pa55" not in repr(request)


# --- job monitors -----------------------------------------------------------------------------

MONITORS_PATH = "/api/v26.1/services/jobs/monitors"


def test_job_monitor_pager_sends_one_status_per_walk_with_limit_and_offset() -> None:
    pager = vault.JobMonitorPager.create(
        statuses=["running", "QUEUED", "Running", "scheduled"], page_size=100
    )
    request = pager.next_request()
    assert request is not None
    assert (request.method, request.path) == ("GET", MONITORS_PATH)
    assert dict(request.params or {}) == {"status": "running", "limit": 100, "offset": 0}


def test_job_monitor_pager_defaults_to_the_200_maximum_and_no_filters() -> None:
    request = vault.JobMonitorPager.create(api_version="v25.3").next_request()
    assert request is not None
    assert request.path == "/api/v25.3/services/jobs/monitors"
    assert dict(request.params or {}) == {"limit": 200, "offset": 0}


@pytest.mark.parametrize("page_size", [0, 201, 1000, True, "50", 10.0], ids=repr)
def test_job_monitor_pager_enforces_a_limit_of_at_most_200(page_size: object) -> None:
    with pytest.raises(ValueError, match=r"^page_size: expected an integer from 1 to 200"):
        vault.JobMonitorPager.create(page_size=page_size)


@pytest.mark.parametrize(
    ("statuses", "pattern"),
    [
        (["RUNNING", "PAUSED"], r"^statuses\[1\]: 'PAUSED' is not accepted"),
        ("RUNNING", r"^statuses: expected a list"),
    ],
)
def test_job_monitor_pager_rejects_bad_statuses(statuses: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        vault.JobMonitorPager.create(statuses=statuses)


@pytest.mark.parametrize("name", ["start_date", "end_date"])
@pytest.mark.parametrize(
    "value", [datetime(2025, 1, 1, 10, 0), "2025-01-01T10:00:00Z"], ids=["naive", "string"]
)
def test_job_monitor_pager_accepts_only_aware_dates(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: expected an aware datetime"):
        vault.JobMonitorPager.create(**{name: value})


def test_job_monitor_pager_sends_utc_dates_in_vaults_z_format() -> None:
    pager = vault.JobMonitorPager.create(
        start_date=datetime(2025, 1, 15, 7, 0, tzinfo=timezone.utc),
        end_date=datetime(2025, 1, 16, 7, 0, 5, tzinfo=timezone.utc),
    )
    params = dict(pager.next_request().params or {})
    assert re.fullmatch(r"2025-01-15T07:00:00(\.000)?Z", params["start_date"])
    assert re.fullmatch(r"2025-01-16T07:00:05(\.000)?Z", params["end_date"])


def test_job_monitor_pager_sends_non_utc_dates_as_the_same_instant_in_vaults_z_format() -> None:
    # Vault's Retrieve Job Monitors documents start_date/end_date as YYYY-MM-DDTHH:MM:SSZ.
    plus_five = timezone(timedelta(hours=5))
    pager = vault.JobMonitorPager.create(start_date=datetime(2025, 1, 15, 12, 0, tzinfo=plus_five))
    value = dict(pager.next_request().params or {})["start_date"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z", value), value
    assert datetime.fromisoformat(value.replace("Z", "+00:00")) == datetime(
        2025, 1, 15, 7, 0, tzinfo=timezone.utc
    )


def monitor_row(n: int, status: str = "RUNNING") -> dict[str, Any]:
    return {
        "job_id": n,
        "title": f"job {n}",
        "status": status,
        "created_by": 1,
        "created_date": "2021-02-03T04:01:29.000Z",
    }


def monitor_server(rows: list[dict[str, Any]], *, total: bool = False) -> Answer:
    def answer(request: ApiRequest) -> dict[str, Any]:
        params = dict(request.params or {})
        offset, limit = int(params["offset"]), int(params["limit"])
        body: dict[str, Any] = {"responseStatus": "SUCCESS", "data": rows[offset : offset + limit]}
        if total:
            body["responseDetails"] = {"total": len(rows), "offset": offset, "limit": limit}
        return body

    return answer


def walk(
    pager: vault.JobMonitorPager, answer: Answer, max_pages: int = 50
) -> tuple[list[VaultJob], list[ApiRequest]]:
    jobs: list[VaultJob] = []
    requests: list[ApiRequest] = []
    while (request := pager.next_request()) is not None:
        assert len(requests) < max_pages, "pager did not stop"
        requests.append(request)
        reply = answer(request)
        jobs.extend(
            pager.feed(reply if isinstance(reply, httpx.Response) else make_response(request, 200, reply))
        )
    return jobs, requests


def test_job_monitor_pager_advances_the_offset_and_stops_on_a_short_page() -> None:
    rows = [monitor_row(n) for n in range(1, 6)]
    jobs, requests = walk(vault.JobMonitorPager.create(page_size=2), monitor_server(rows))
    assert [dict(r.params or {})["offset"] for r in requests] == [0, 2, 4]
    assert [j.job_id for j in jobs] == [1, 2, 3, 4, 5]
    assert all(j.status is VaultJobStatus.RUNNING for j in jobs)


def test_job_monitor_pager_stops_on_an_empty_page() -> None:
    rows = [monitor_row(n) for n in range(1, 5)]
    jobs, requests = walk(vault.JobMonitorPager.create(page_size=2), monitor_server(rows))
    assert len(requests) == 3
    assert [j.job_id for j in jobs] == [1, 2, 3, 4]


def test_job_monitor_pager_stops_when_the_total_is_reached() -> None:
    rows = [monitor_row(n) for n in range(1, 5)]
    jobs, requests = walk(vault.JobMonitorPager.create(page_size=2), monitor_server(rows, total=True))
    assert len(requests) == 2
    assert [j.job_id for j in jobs] == [1, 2, 3, 4]


def test_job_monitor_pager_terminates_when_the_server_ignores_paging_and_yields_each_job_once() -> None:
    rows = [monitor_row(n) for n in range(1, 4)]
    jobs, requests = walk(
        vault.JobMonitorPager.create(page_size=3), lambda req: {"responseStatus": "SUCCESS", "data": rows}
    )
    assert len(requests) == 2
    assert [j.job_id for j in jobs] == [1, 2, 3]


def test_job_monitor_pager_raises_for_a_failure_envelope() -> None:
    pager = vault.JobMonitorPager.create()
    with pytest.raises(VaultSessionError):
        pager.feed(make_response(pager.next_request(), 200, failure("INVALID_SESSION_ID")))


def test_job_monitor_pager_reads_vaults_documented_monitor_response() -> None:
    # Vault's Retrieve Job Monitors example (developer.veevavault.com, v26.2): the rows are
    # under "jobs", each with a "job_id".
    documented = {
        "responseStatus": "SUCCESS",
        "responseMessage": "OK",
        "url": "/api/v26.2/services/jobs/monitors?limit=50&offset=0",
        "responseDetails": {"total": 3, "limit": 50, "offset": 0},
        "jobs": [
            {
                "job_id": 72505,
                "title": "User Account Activation",
                "status": "SCHEDULED",
                "created_by": 1,
                "created_date": "2021-02-03T04:01:29.000Z",
                "modified_by": 1,
                "modified_date": "2021-02-03T04:01:29.000Z",
                "run_start_date": "2021-02-04T04:00:00.000Z",
            },
            {
                "job_id": 72518,
                "title": "Task Reminder Notification",
                "status": "SCHEDULED",
                "created_by": 1,
                "created_date": "2021-02-03T09:01:53.000Z",
                "modified_by": 1,
                "modified_date": "2021-02-03T09:01:53.000Z",
                "run_start_date": "2021-02-04T09:00:00.000Z",
            },
        ],
    }
    pager = vault.JobMonitorPager.create(page_size=50)
    jobs = pager.feed(make_response(pager.next_request(), 200, documented))
    assert [j.job_id for j in jobs] == [72505, 72518]


# --- scope fields of monitor rows and the session's user -------------------------------------


def test_job_monitor_rows_read_owner_type_and_dates_under_either_spelling() -> None:
    rows = [
        {
            "job_id": 1,
            "status": "QUEUED",
            "createdBy": 7,
            "job_title": "Nightly extract",
            "name": "nightly__c",
            "type": "data_export",
            "queue_date": "2026-01-01T10:00:00.000Z",
            "modifiedDate": "2026-01-01T10:00:01.000Z",
        },
        {
            "job_id": 2,
            "status": "QUEUED",
            "created_by": 8,
            "title": "Report",
            "job_name": "report__c",
            "job_type": "report",
            "queued_date": "2026-01-01T11:00:00.000Z",
            "modified_date": "2026-01-01T11:00:01.000Z",
        },
    ]
    pager = vault.JobMonitorPager.create()
    first, second = pager.feed(
        make_response(pager.next_request(), 200, {"responseStatus": "SUCCESS", "jobs": rows})
    )
    assert (first.created_by, first.title, first.job_name, first.job_type) == (
        7,
        "Nightly extract",
        "nightly__c",
        "data_export",
    )
    assert (second.created_by, second.title, second.job_name, second.job_type) == (
        8,
        "Report",
        "report__c",
        "report",
    )
    # No reference shows a queue date: it is kept as an extra, never read as a date.
    assert first.model_extra is not None and first.model_extra["queue_date"] == "2026-01-01T10:00:00.000Z"
    assert second.model_extra is not None and "queued_date" in second.model_extra
    assert first.modified_date == datetime(2026, 1, 1, 10, 0, 1, tzinfo=timezone.utc)
    assert second.modified_date == datetime(2026, 1, 1, 11, 0, 1, tzinfo=timezone.utc)


def test_current_user_gets_users_me_and_reads_vaults_documented_reply() -> None:
    # Vault's "Validate Session User" example (shortened).
    documented = {
        "responseStatus": "SUCCESS",
        "users": [{"user": {"user_name__v": "tibanez@veepharm.com", "id": 61603, "active__v": True}}],
    }
    user_id, steps = drive(vault.current_user(api_version="v25.1"), lambda request: documented)
    (request,) = sent(steps)
    assert (request.method, request.path) == ("GET", "/api/v25.1/objects/users/me")
    assert user_id == "61603"


@pytest.mark.parametrize(
    "body",
    [
        {"responseStatus": "SUCCESS"},
        {"responseStatus": "SUCCESS", "users": []},
        {"responseStatus": "SUCCESS", "users": [{"user": {"id": None}}]},
        {"responseStatus": "SUCCESS", "users": [{"user": {"id": True}}]},
        {"responseStatus": "SUCCESS", "users": ["61603"]},
    ],
    ids=repr,
)
def test_current_user_without_a_user_id_raises_vault_api_error(body: Any) -> None:
    with pytest.raises(VaultAPIError, match=r"users\[0\]\.user\.id"):
        drive(vault.current_user(), lambda request: body)


def test_current_user_invalid_session_raises_vault_session_error() -> None:
    with pytest.raises(VaultSessionError):
        drive(vault.current_user(), lambda request: failure("INVALID_SESSION_ID"))
