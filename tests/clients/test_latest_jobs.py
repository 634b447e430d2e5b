"""The latest jobs of many rules, and rerun history read and reported (``clients/clinical_one.py``).
Written against ``latest_jobs`` and ``parse_rerun_history`` as they are called today."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from clinical_rules_provider.clients import clinical_one as c1
from clinical_rules_provider.clients.base import ApiRequest
from clinical_rules_provider.exceptions import (
    ClinicalOneAPIError,
    ClinicalOneValidationError,
    TransientServiceError,
    UnexpectedResponseError,
)
from tests.clients.test_clinical_one import (
    RULE_A,
    RULE_B,
    RULE_C,
    STUDY,
    drive,
    get_rerun_history,
    job_entry,
    latest_jobs,
    make_response,
)

START = "2025-09-07 19:12:08.747"
KOLKATA = timezone(timedelta(hours=5, minutes=30))


def history_of(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"status": "SUCCESS", "ruleHistory": list(entries)}


def test_latest_jobs_reads_rerun_history_by_default_one_request_per_rule() -> None:
    step = latest_jobs(STUDY, "test", [RULE_A, RULE_B]).send(None)
    assert [(r.endpoint, r.method) for r in step] == [("get_rerun_history", "GET")] * 2


def test_latest_jobs_reads_start_dates_in_utc_by_default() -> None:
    jobs, _ = drive(
        latest_jobs(STUDY, "test", [RULE_A]), lambda r: history_of(job_entry(RULE_A, "Success", START))
    )
    assert jobs[RULE_A][0].job_start_date == datetime(2025, 9, 7, 19, 12, 8, 747000, tzinfo=timezone.utc)


@pytest.mark.parametrize("poll_endpoint", ["rerun_history", "job_status"])
def test_latest_jobs_reads_start_dates_in_the_service_time_zone(poll_endpoint: str) -> None:
    def answer(request: ApiRequest) -> Any:
        entry = job_entry(RULE_A, "Success", START)
        return (
            history_of(entry)
            if poll_endpoint == "rerun_history"
            else {"status": "Success", "jobStatus": [entry]}
        )

    exchange = latest_jobs(
        STUDY, "test", [RULE_A], poll_endpoint=poll_endpoint, service_timezone="Asia/Kolkata"
    )
    jobs, _ = drive(exchange, answer)
    assert jobs[RULE_A][0].job_start_date == datetime(2025, 9, 7, 19, 12, 8, 747000, tzinfo=KOLKATA)


@pytest.mark.parametrize(("history", "params"), [(False, None), (True, {"history": "true"})])
def test_latest_jobs_in_bulk_asks_for_history_only_when_told(history: bool, params: Any) -> None:
    kwargs: dict[str, Any] = {"history": True} if history else {}
    (request,) = latest_jobs(STUDY, "test", [RULE_A, RULE_B], poll_endpoint="job_status", **kwargs).send(None)
    assert (request.endpoint, request.json, request.params) == (
        "get_job_status",
        {"ruleIds": [RULE_A, RULE_B]},
        params,
    )


def test_latest_jobs_in_bulk_keys_every_rule_and_keeps_jobs_of_rules_not_asked_for() -> None:
    lone = {"jobId": "J", "jobStatus": "Running", "jobStartDate": START}
    reply = {"status": "Success", "jobStatus": [job_entry(RULE_A), job_entry(RULE_C), lone]}
    jobs, _ = drive(latest_jobs(STUDY, "test", [RULE_A, RULE_B], poll_endpoint="job_status"), lambda r: reply)
    assert {k: [j.job_id for j in v] for k, v in jobs.items()} == {
        RULE_A: [RULE_A[::-1]],
        RULE_B: [],
        RULE_C: [RULE_C[::-1]],
        "": ["J"],
    }


# --- parse_rerun_history --------------------------------------------------------------------------


def parse(status: int, body: Any = None, *, content: bytes | None = None, **kwargs: Any) -> Any:
    request = ApiRequest("get_rerun_history", "GET", "/x")
    return c1.parse_rerun_history(make_response(request, status, body, content=content), **kwargs)


def test_rerun_history_requests_are_named_get_rerun_history() -> None:
    (request,) = get_rerun_history(STUDY, "test", RULE_A).send(None)
    assert request.endpoint == "get_rerun_history"


def test_parse_rerun_history_reads_dates_in_utc_unless_told_otherwise() -> None:
    assert parse(200, history_of(job_entry(RULE_A, "Success", START))).rule_history[
        0
    ].job_start_date == datetime(2025, 9, 7, 19, 12, 8, 747000, tzinfo=timezone.utc)


def test_an_unreadable_history_body_names_the_endpoint() -> None:
    with pytest.raises(TransientServiceError, match=r"^get_rerun_history: "):
        parse(200, content=b"{")


def test_a_history_error_envelope_names_the_endpoint() -> None:
    with pytest.raises(ClinicalOneValidationError) as info:
        parse(400, {"status": "VALIDATION_ERROR", "statusDetail": "bad rule"})
    assert info.value.message == "get_rerun_history: bad rule"


def test_a_history_reply_without_its_list_names_its_first_ten_members_cut_to_40_characters() -> None:
    body: dict[str, Any] = {"status": "SUCCESS", "k" * 45: 1}
    body.update({f"m{n:02d}": n for n in range(10)})
    with pytest.raises(UnexpectedResponseError) as info:
        parse(203, body)
    members = ", ".join(["k" * 40, *[f"m{n:02d}" for n in range(9)]])
    assert info.value.message == (
        f"get_rerun_history: the reply has no ruleHistory (members: {members}); only a NOT_FOUND "
        "status says a rule has no history"
    )
    assert info.value.status_code == 203


def test_a_history_of_the_wrong_shape_is_a_clinical_one_error_naming_the_endpoint() -> None:
    with pytest.raises(ClinicalOneAPIError) as info:
        parse(200, history_of(job_entry(RULE_A, "Success", "not a date")))
    assert type(info.value) is ClinicalOneAPIError
    assert info.value.message.startswith("get_rerun_history: unexpected response shape")
