"""Vault replies read field by field: cancel items matched to jobs, envelopes turned into errors,
monitor walks over several statuses, and what each request says about itself.

Each test names one behaviour the mutation run (``make mutation``, docs/mutation-testing.md)
found unguarded by the rest of ``tests/clients``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from clinical_rules_provider.clients import vault
from clinical_rules_provider.clients.base import ApiRequest
from clinical_rules_provider.exceptions import RateLimitedError, VaultAPIError, VaultSessionError
from clinical_rules_provider.models.refs import VaultJobIds
from tests.clients.test_vault import drive, failure, make_response, monitor_row, walk


def cancel_reply(*items: Any) -> dict[str, Any]:
    return {"responseStatus": "SUCCESS", "data": list(items)}


def ok(job_id: Any) -> dict[str, Any]:
    return {"responseStatus": "SUCCESS", "data": {"id": job_id}}


REFUSED = {"responseStatus": "FAILURE", "errors": [{"type": "INVALID_DATA", "message": "not queued"}]}


def cancel(job_ids: list[int], reply: dict[str, Any]) -> list[tuple[int, str]]:
    results, _ = drive(vault.cancel_jobs(VaultJobIds.of(job_ids)), lambda request: reply)
    return [(r.job_id, r.response_status) for r in results]


# --- cancel items ---------------------------------------------------------------------------


def test_cancel_items_in_another_order_go_to_the_job_each_names() -> None:
    assert cancel([1, 2, 3], cancel_reply(ok(3), REFUSED, ok(1))) == [
        (1, "SUCCESS"),
        (2, "FAILURE"),
        (3, "SUCCESS"),
    ]


def test_an_unnamed_cancel_item_fills_the_first_job_no_item_names() -> None:
    assert cancel([1, 2, 3], cancel_reply(REFUSED, ok(1), ok(2))) == [
        (1, "SUCCESS"),
        (2, "SUCCESS"),
        (3, "FAILURE"),
    ]


def test_a_cancel_item_naming_an_unrequested_job_is_a_mismatch_naming_both_ids() -> None:
    results, _ = drive(vault.cancel_jobs(VaultJobIds.of([1, 2])), lambda request: cancel_reply(ok(1), ok(99)))
    assert [(r.job_id, r.response_status, r.cancelled) for r in results] == [
        (1, "SUCCESS", True),
        (2, "MISMATCH", False),
    ]
    (error,) = results[1].errors
    assert error.type == "MISMATCHED_RESULT"
    assert error.message == (
        "Vault's reply names job 99 where job 2 was expected: the cancel of job 2 is unconfirmed "
        "(check job 99 too)"
    )


def test_a_job_named_twice_is_matched_by_position_and_the_repeat_is_a_mismatch() -> None:
    assert cancel([1, 2], cancel_reply(ok(1), ok(1))) == [(1, "SUCCESS"), (2, "MISMATCH")]


def test_a_by_position_unnamed_item_keeps_its_own_status() -> None:
    # One named id was never requested, so matching is by position: the unnamed refusal stays.
    assert cancel([1, 2, 3], cancel_reply(REFUSED, ok(77), ok(3))) == [
        (1, "FAILURE"),
        (2, "MISMATCH"),
        (3, "SUCCESS"),
    ]


def test_a_cancel_item_without_a_response_status_is_unknown_and_not_cancelled() -> None:
    results, _ = drive(vault.cancel_jobs(VaultJobIds.of([1])), lambda request: cancel_reply({"data": {}}))
    assert (results[0].response_status, results[0].cancelled) == ("UNKNOWN", False)


def test_items_beyond_the_requested_jobs_are_ignored() -> None:
    assert cancel([1], cancel_reply(ok(1), ok(2), REFUSED)) == [(1, "SUCCESS")]


@pytest.mark.parametrize(
    "named",
    [" 2 ", "2"],
    ids=["padded", "string"],
)
def test_a_job_id_named_as_a_numeric_string_counts_as_that_job(named: str) -> None:
    assert cancel([1, 2], cancel_reply(ok(named), ok(1))) == [(1, "SUCCESS"), (2, "SUCCESS")]


@pytest.mark.parametrize(
    "named",
    [True, 0, "0", "-2", "2.0", "\uff12", "1" * 20, None, 2.0, [2]],
    ids=repr,
)
def test_an_item_naming_no_positive_job_id_is_matched_by_position(named: Any) -> None:
    # Job 1 is named properly; the other item names nothing usable, so it fills job 2.
    assert cancel([1, 2], cancel_reply({"responseStatus": "SUCCESS", "data": {"id": named}}, ok(1))) == [
        (1, "SUCCESS"),
        (2, "SUCCESS"),
    ]


def test_a_nineteen_digit_job_id_is_a_named_id() -> None:
    big = int("9" * 19)
    assert cancel([1, big], cancel_reply(ok(big), REFUSED)) == [(1, "FAILURE"), (big, "SUCCESS")]


def test_a_job_id_of_one_is_a_named_id() -> None:
    assert cancel([5, 1], cancel_reply(ok(1), REFUSED)) == [(5, "FAILURE"), (1, "SUCCESS")]


# --- envelopes and errors -------------------------------------------------------------------


def vault_error(body: Any, status: int = 200, endpoint: str = "get_job_status") -> VaultAPIError:
    request = ApiRequest(endpoint, "GET", "/api/v26.1/x")
    with pytest.raises(VaultAPIError) as info:
        vault.raise_for_vault_error(make_response(request, status, body), body, endpoint)
    return info.value


def test_a_failure_envelope_names_the_endpoint_each_error_and_the_http_status() -> None:
    body = {
        "responseStatus": "FAILURE",
        "errors": [{"type": "INVALID_DATA", "message": "bad"}, {"type": "OTHER", "message": "worse"}],
    }
    error = vault_error(body, 400)
    assert error.message == "get_job_status: INVALID_DATA: bad; OTHER: worse"
    assert (error.code, error.status_code) == ("INVALID_DATA", 400)


def test_a_failure_envelope_without_errors_says_its_response_status() -> None:
    error = vault_error({"responseStatus": "EXCEPTION"})
    assert error.message == "get_job_status: EXCEPTION"
    assert (error.code, error.status_code) == (None, 200)


def test_a_malformed_failure_envelope_is_a_vault_error_naming_the_endpoint() -> None:
    error = vault_error({"responseStatus": "FAILURE", "errors": [{"type": ["not", "text"]}]})
    assert type(error) is VaultAPIError
    assert error.message.startswith("get_job_status: unexpected response shape")


def test_a_rate_limit_error_says_what_vault_said() -> None:
    request = ApiRequest("cancel_jobs", "POST", "/x")
    body = failure("API_LIMIT_EXCEEDED", "slow down")
    with pytest.raises(RateLimitedError) as info:
        vault.raise_for_vault_error(make_response(request, 200, body), body, "cancel_jobs")
    assert info.value.message == "cancel_jobs: API_LIMIT_EXCEEDED: slow down"


def test_a_session_error_keeps_the_http_status() -> None:
    request = ApiRequest("cancel_jobs", "POST", "/x")
    body = failure("INVALID_SESSION_ID")
    with pytest.raises(VaultSessionError) as info:
        vault.raise_for_vault_error(make_response(request, 401, body), body, "cancel_jobs")
    assert info.value.status_code == 401


@pytest.mark.parametrize("status", [400, 401, 503])
def test_any_http_error_without_an_envelope_raises_naming_endpoint_and_status(status: int) -> None:
    error = vault_error(None, status)
    assert error.message == f"get_job_status: HTTP {status}"
    assert error.status_code == status


def test_http_399_without_an_envelope_is_no_error() -> None:
    request = ApiRequest("x", "GET", "/x")
    vault.raise_for_vault_error(make_response(request, 399, None), None, "x")


@pytest.mark.parametrize("errors", ["INVALID_DATA", 5, None], ids=["text", "number", "none"])
def test_error_types_ignores_errors_of_another_type_than_list_or_object(errors: Any) -> None:
    assert vault.error_types({"responseStatus": "FAILURE", "errors": errors}) == set()


@pytest.mark.parametrize("body", [{"responseStatus": "SUCCESS", "data": []}, ["not", "a", "dict"]], ids=repr)
def test_a_job_status_reply_without_a_data_object_names_endpoint_and_status(body: Any) -> None:
    with pytest.raises(VaultAPIError) as info:
        drive(vault.get_job_status(5), lambda request: (202, body))
    assert info.value.message == "get_job_status: response has no data object"
    assert info.value.status_code == 202


def test_a_job_status_reply_of_the_wrong_shape_is_a_vault_error_naming_the_endpoint() -> None:
    with pytest.raises(VaultAPIError) as info:
        drive(vault.get_job_status(5), lambda request: {"responseStatus": "SUCCESS", "data": {"id": "x"}})
    assert info.value.message.startswith("get_job_status: unexpected response shape")


def test_a_malformed_job_status_body_names_the_endpoint() -> None:
    with pytest.raises(Exception, match=r"^get_job_status: ") as info:
        drive(vault.get_job_status(5), lambda request: make_response(request, 200, content=b"{"))
    assert "get_job_status" in str(info.value)


def test_a_cancel_reply_without_its_list_names_the_cancel_endpoint() -> None:
    with pytest.raises(VaultAPIError) as info:
        drive(
            vault.cancel_jobs(VaultJobIds.of([1])), lambda request: {"responseStatus": "SUCCESS", "data": {}}
        )
    assert info.value.message == "cancel_jobs: response has no per-job data list"


def test_a_current_user_reply_without_an_id_keeps_the_http_status() -> None:
    with pytest.raises(VaultAPIError) as info:
        drive(vault.current_user(), lambda request: (203, {"responseStatus": "SUCCESS", "users": []}))
    assert info.value.message == "current_user: response has no users[0].user.id"
    assert info.value.status_code == 203


@pytest.mark.parametrize("user_id", ["", "  "], ids=repr)
def test_a_blank_current_user_id_is_no_id(user_id: str) -> None:
    body = {"responseStatus": "SUCCESS", "users": [{"user": {"id": user_id}}]}
    with pytest.raises(VaultAPIError, match=r"users\[0\]\.user\.id"):
        drive(vault.current_user(), lambda request: body)


def test_a_current_user_failure_names_the_endpoint() -> None:
    with pytest.raises(VaultAPIError, match=r"^current_user: INSUFFICIENT_ACCESS"):
        drive(vault.current_user(), lambda request: failure("INSUFFICIENT_ACCESS"))


# --- what each request says about itself ----------------------------------------------------


def test_each_vault_request_is_named_after_its_endpoint() -> None:
    assert vault.cancel_jobs(VaultJobIds.of([1])).send(None)[0].endpoint == "cancel_jobs"
    assert vault.get_job_status(1).send(None)[0].endpoint == "get_job_status"
    assert vault.current_user().send(None)[0].endpoint == "current_user"
    assert vault.auth_request("v26.1", "u", "p").endpoint == "auth"
    request = vault.JobMonitorPager.create().next_request()
    assert request is not None and request.endpoint == "list_job_monitors"


def test_cancel_and_auth_send_exactly_vaults_documented_headers() -> None:
    (cancel_request,) = vault.cancel_jobs(VaultJobIds.of([1])).send(None)
    assert cancel_request.headers == {"Content-Type": "application/json", "Accept": "application/json"}
    assert vault.auth_request("v26.1", "u", "p").headers == {"Accept": "application/json"}


# --- job monitors over several statuses -----------------------------------------------------


def status_server(by_status: dict[str, list[dict[str, Any]]], *, total: Any = None) -> Any:
    def answer(request: ApiRequest) -> dict[str, Any]:
        params = dict(request.params or {})
        rows = by_status[str(params["status"])]
        offset, limit = int(params["offset"]), int(params["limit"])
        body: dict[str, Any] = {"responseStatus": "SUCCESS", "jobs": rows[offset : offset + limit]}
        if total is not None:
            body["responseDetails"] = {"total": total}
        return body

    return answer


def test_the_monitor_walk_goes_through_every_status_each_from_offset_zero() -> None:
    by_status = {
        "scheduled": [monitor_row(1, "SCHEDULED")],
        "queued": [monitor_row(2, "QUEUED"), monitor_row(3, "QUEUED"), monitor_row(4, "QUEUED")],
        "running": [monitor_row(5)],
    }
    pager = vault.JobMonitorPager.create(statuses=["SCHEDULED", "QUEUED", "RUNNING"], page_size=2)
    jobs, requests = walk(pager, status_server(by_status))
    assert [(dict(r.params or {})["status"], dict(r.params or {})["offset"]) for r in requests] == [
        ("scheduled", 0),
        ("queued", 0),
        ("queued", 2),
        ("running", 0),
    ]
    assert [j.job_id for j in jobs] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("total", [True, "2", 2.0], ids=repr)
def test_a_monitor_total_that_is_not_an_integer_is_ignored(total: Any) -> None:
    rows = [monitor_row(n) for n in range(1, 6)]
    pager = vault.JobMonitorPager.create(statuses=["RUNNING"], page_size=2)
    jobs, _ = walk(pager, status_server({"running": rows}, total=total))
    assert [j.job_id for j in jobs] == [1, 2, 3, 4, 5]


def test_a_monitor_reply_with_details_that_are_not_an_object_pages_on() -> None:
    rows = [monitor_row(n) for n in range(1, 4)]

    def answer(request: ApiRequest) -> dict[str, Any]:
        offset = int(dict(request.params or {})["offset"])
        return {"responseStatus": "SUCCESS", "data": rows[offset : offset + 2], "responseDetails": [1]}

    jobs, _ = walk(vault.JobMonitorPager.create(page_size=2), answer)
    assert [j.job_id for j in jobs] == [1, 2, 3]


def test_a_malformed_monitor_row_is_a_vault_error_naming_the_endpoint() -> None:
    pager = vault.JobMonitorPager.create()
    request = pager.next_request()
    assert request is not None
    body = {"responseStatus": "SUCCESS", "jobs": [{"job_id": "not a number"}]}
    with pytest.raises(VaultAPIError, match=r"^list_job_monitors: unexpected response shape"):
        pager.feed(make_response(request, 200, body))


def test_a_monitor_failure_names_the_endpoint() -> None:
    pager = vault.JobMonitorPager.create()
    request = pager.next_request()
    assert request is not None
    with pytest.raises(VaultAPIError, match=r"^list_job_monitors: INSUFFICIENT_ACCESS"):
        pager.feed(make_response(request, 200, failure("INSUFFICIENT_ACCESS")))


def test_an_unsupported_monitor_status_is_named_with_the_accepted_ones() -> None:
    with pytest.raises(ValueError) as info:
        vault.JobMonitorPager.create(statuses=["RUNNING", "SUCCESS"])
    assert str(info.value) == (
        "statuses: ['SUCCESS'] cannot filter job monitors; expected some of: SCHEDULED, QUEUED, RUNNING"
    )


def test_a_naive_monitor_date_is_shown_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"got datetime\.datetime\(2025, 1, 1"):
        vault.JobMonitorPager.create(start_date=datetime(2025, 1, 1))


def test_monitor_dates_are_sent_in_utc_whatever_the_worker_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        start = datetime(2025, 1, 15, 12, 0, tzinfo=timezone(timedelta(hours=5)))
        request = vault.JobMonitorPager.create(start_date=start).next_request()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert request is not None
    assert dict(request.params or {})["start_date"] == "2025-01-15T07:00:00Z"
