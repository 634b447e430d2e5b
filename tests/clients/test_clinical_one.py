"""Clinical One endpoint specs (``clinical_rules_provider.clients.clinical_one``), driven by hand.

Each exchange is a generator: it yields a batch of ``ApiRequest`` and receives the
matching ``httpx.Response`` list; ``StopIteration.value`` carries the result.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Generator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from clinical_rules_provider.clients import clinical_one as c1
from clinical_rules_provider.clients import filtered_list as fl
from clinical_rules_provider.clients import publish_run as pr
from clinical_rules_provider.clients.base import ApiRequest, decode_json, reply_for
from clinical_rules_provider.exceptions import (
    ClinicalOneAPIError,
    ClinicalOneNotFoundError,
    ClinicalOneServerError,
    ClinicalOneValidationError,
    ClinicalRulesError,
    TransientServiceError,
    UnexpectedResponseError,
)
from clinical_rules_provider.models.clinical_one import JobStatusResult, PublishRunResult
from clinical_rules_provider.models.enums import PublishJobStatus, RuleJobStatus
from clinical_rules_provider.models.refs import CompactId, RuleIds, StudyRef

BASE = "https://c1.test"
STUDY = "36753A48BBA048CB98A5F3278146118D"
STUDY_HYPHENATED_LOWER = "36753a48-bba0-48cb-98a5-f3278146118d"
RULE_A = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
RULE_B = "938D23FA6B7241CCA41BD627E5DB60DA"
RULE_C = "699EF3745FC545589F186D2198F3C65E"
HISTORY_RULE = "704A7178208D44BC9AD52556B18933C3"


# The boundary (a public hook method) builds the checked values; the clients trust them.
def cancel_rule_jobs(study: object, mode: object, rule_ids: object, **kw: Any) -> Any:
    return c1.cancel_rule_jobs(StudyRef.of(study, mode), RuleIds.of(rule_ids), **kw)


def get_job_status(study: object, mode: object, rule_ids: object, **kw: Any) -> Any:
    return c1.get_job_status(StudyRef.of(study, mode), RuleIds.of(rule_ids), **kw)


def get_rerun_history(study: object, mode: object, rule_id: object, **kw: Any) -> Any:
    return c1.get_rerun_history(StudyRef.of(study, mode), CompactId.of(rule_id, "rule_id"), **kw)


def latest_jobs(study: object, mode: object, rule_ids: object, **kw: Any) -> Any:
    return c1.latest_jobs(StudyRef.of(study, mode), RuleIds.of(rule_ids), **kw)


PUBLISH_PREFIX = "/ec-rule-designer-svc/rest/v1.0/rulemgt/studies"
RULE_SVC_PREFIX = "/ec-rule-svc/rest/v1.0/studies"

# api-docs/clinical-one-update-publish-run.txt, 400 error document (literal).
ERROR_DOC = {
    "status": "failed",
    "result": None,
    "errorCode": "JSON-004",
    "errorMessage": "Invalid UUID list. One or more elements are invalid. Must contain at least one element.",
    "details": "ruleIds must contain at least one value.",
}

Answer = Callable[[ApiRequest], Any]


# --- a tiny driver ----------------------------------------------------------------------------


def hyphenate(compact: str) -> str:
    return str(uuid.UUID(compact))


def make_response(
    request: ApiRequest, status: int = 200, body: Any = None, *, content: bytes | None = None
) -> httpx.Response:
    http_request = httpx.Request(
        request.method, BASE + request.path, params=request.params, json=request.json
    )
    if content is not None:
        return httpx.Response(status, content=content, request=http_request)
    return httpx.Response(status, json=body, request=http_request)


class Driver:
    """Answers every yielded request with ``answer(request)`` -> Response | (status, body) | body."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.steps: list[list[ApiRequest]] = []

    @property
    def sent(self) -> list[ApiRequest]:
        return [r for step in self.steps for r in step]

    def reply(self, request: ApiRequest) -> httpx.Response:
        answer = self.answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        if isinstance(answer, tuple):
            return make_response(request, *answer)
        return make_response(request, 200, answer)

    def run(self, exchange: Generator[Any, Any, Any]) -> Any:
        step = exchange.send(None)
        while True:
            assert isinstance(step, list), f"unexpected step {step!r}"
            if is_snapshot(step):  # an AllData publish's read before the first send: no jobs yet
                replies = [reply_for(r, make_response(r, 200, NO_JOBS)) for r in step]
                step = exchange.send(replies)
                continue
            self.steps.append(step)
            replies = [reply_for(r, self.reply(r)) for r in step]
            try:
                step = exchange.send(replies)
            except StopIteration as stop:
                return stop.value


def drive(exchange: Generator[Any, Any, Any], answer: Answer) -> tuple[Any, Driver]:
    driver = Driver(answer)
    return driver.run(exchange), driver


def publish_item(rule_id: str, status: str = "Success", **extra: Any) -> dict[str, Any]:
    return {
        "ruleId": rule_id,
        "ruleName": f"rule {rule_id[:4]}",
        "jobStatus": status,
        "ruleValidationMessage": "Rule updated successfully.",
        "ruleValidationStatus": status == "Success",
        "httpErrorCode": 200,
        "httpErrorMessage": "Success",
        "result": {"status": "success", "result": "Publish run updated to AllData"},
        "error": None,
        **extra,
    }


def echo_publish(request: ApiRequest) -> list[dict[str, Any]]:
    return [publish_item(r) for r in request.json["ruleIds"]]


def job_entry(
    rule_id: str, status: str = "Cancelled", start: str = "2025-09-07 19:12:08.747"
) -> dict[str, Any]:
    return {
        "ruleId": rule_id,
        "jobId": (rule_id[::-1]),
        "jobStatus": status,
        "ruleName": "onesection - create query with form submit dates",
        "jobStartDate": start,
        "groupJobId": "F8491962C1574F0A89195560670B59E8",
    }


def echo_jobs(request: ApiRequest) -> dict[str, Any]:
    return {"status": "Success", "jobStatus": [job_entry(r) for r in request.json["ruleIds"]]}


def many_ids(count: int) -> list[str]:
    return [f"{i:032X}" for i in range(1, count + 1)]


NO_JOBS = {"errorMessage": "Success", "jobStatus": []}


def is_snapshot(step: list[ApiRequest]) -> bool:
    """The job-id read an ``AllData`` publish takes before its first send."""
    return all(r.endpoint == "get_job_status" and r.report_errors for r in step)


def start(exchange: Generator[Any, Any, Any]) -> list[ApiRequest]:
    """The first requests an exchange sends, past an ``AllData`` publish's snapshot read."""
    step = exchange.send(None)
    assert isinstance(step, list)
    if is_snapshot(step):
        step = exchange.send([reply_for(r, make_response(r, 200, NO_JOBS)) for r in step])
    return step


# --- update publish run -----------------------------------------------------------------------


def test_update_publish_run_sends_one_put_to_the_publish_run_path_with_compact_uppercase_ids() -> None:
    (request,) = start(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A.lower(), hyphenate(RULE_B)]))
    assert request.method == "PUT"
    assert request.path == f"{PUBLISH_PREFIX}/{STUDY}/test/AllData"
    assert request.json == {"ruleIds": [RULE_A, RULE_B]}
    assert request.params is None


@pytest.mark.parametrize(
    ("mode", "wire"),
    [("TEST", "test"), ("Design", "design"), ("PRODUCTION", "production"), ("active", "active")],
)
def test_update_publish_run_lowercases_the_mode(mode: str, wire: str) -> None:
    (request,) = start(pr.update_publish_run(STUDY, mode, "FutureData", [RULE_A]))
    assert request.path == f"{PUBLISH_PREFIX}/{STUDY}/{wire}/FutureData"


def test_update_publish_run_normalises_study_id_and_publish_run_spelling() -> None:
    (request,) = start(pr.update_publish_run(STUDY_HYPHENATED_LOWER, "test", "futuredata", [RULE_A]))
    assert request.path == f"{PUBLISH_PREFIX}/{STUDY}/test/FutureData"


def test_update_publish_run_returns_one_result_per_rule_in_input_order() -> None:
    results, driver = drive(
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_B, RULE_A, RULE_C]), echo_publish
    )
    assert len(driver.sent) == 1
    assert all(isinstance(r, PublishRunResult) for r in results)
    assert [r.rule_id for r in results] == [RULE_B, RULE_A, RULE_C]
    assert all(r.succeeded for r in results)
    assert results[0].job_status is PublishJobStatus.SUCCESS


def test_update_publish_run_orders_results_like_the_input_when_the_server_reorders_them() -> None:
    results, _ = drive(
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B, RULE_C]),
        lambda req: list(reversed(echo_publish(req))),
    )
    assert [r.rule_id for r in results] == [RULE_A, RULE_B, RULE_C]


def test_update_publish_run_matches_results_reported_with_hyphenated_lowercase_ids() -> None:
    results, _ = drive(
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B]),
        lambda req: [publish_item(hyphenate(r).lower()) for r in reversed(req.json["ruleIds"])],
    )
    assert [r.rule_id for r in results] == [RULE_A, RULE_B]
    assert all(r.succeeded for r in results)


def test_update_publish_run_turns_a_rule_missing_from_the_answer_into_a_failed_item() -> None:
    results, _ = drive(
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B, RULE_C]),
        lambda req: [publish_item(RULE_C), publish_item(RULE_A)],
    )
    assert [r.rule_id for r in results] == [RULE_A, RULE_B, RULE_C]
    missing = results[1]
    assert missing.succeeded is False
    assert missing.http_error_code == 200
    assert missing.error is not None and missing.error.status == "failed"
    assert missing.failure_reason is not None and "no result" in missing.failure_reason
    assert results[0].succeeded and results[2].succeeded


def test_update_publish_run_with_an_empty_answer_reports_every_rule_as_failed() -> None:
    results, _ = drive(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B]), lambda req: [])
    assert [r.rule_id for r in results] == [RULE_A, RULE_B]
    assert not any(r.succeeded for r in results)


def test_update_publish_run_keeps_unrequested_items_after_the_requested_ones() -> None:
    results, _ = drive(
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]),
        lambda req: [publish_item(RULE_C), publish_item(RULE_A)],
    )
    assert [r.rule_id for r in results] == [RULE_A, RULE_C]


def test_update_publish_run_splits_1201_ids_into_500_500_201_and_merges_in_input_order() -> None:
    ids = many_ids(1201)
    given = [*ids, ids[10].lower(), hyphenate(ids[700]), ids[1200]]  # duplicates in other spellings
    results, driver = drive(
        pr.update_publish_run(STUDY, "test", "AllData", given), lambda req: list(reversed(echo_publish(req)))
    )
    assert len(driver.steps) == 1, "chunks are independent and sent as one batch"
    assert [len(r.json["ruleIds"]) for r in driver.sent] == [500, 500, 201]
    assert [i for r in driver.sent for i in r.json["ruleIds"]] == ids
    assert {r.path for r in driver.sent} == {f"{PUBLISH_PREFIX}/{STUDY}/test/AllData"}
    assert {r.method for r in driver.sent} == {"PUT"}
    assert [r.rule_id for r in results] == ids


def test_update_publish_run_a_400_item_list_with_rule_ids_is_returned_per_rule() -> None:
    def answer(request: ApiRequest) -> tuple[int, Any]:
        return 400, [
            publish_item(RULE_A),
            publish_item(
                RULE_B,
                "Failed",
                httpErrorCode=400,
                httpErrorMessage="Bad Request",
                result=None,
                error=ERROR_DOC,
            ),
        ]

    results, _ = drive(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B]), answer)
    assert [r.rule_id for r in results] == [RULE_A, RULE_B]
    assert results[0].succeeded is True
    assert results[1].succeeded is False
    assert results[1].failure_reason is not None and "JSON-004" in results[1].failure_reason


def test_update_publish_run_a_400_item_list_without_rule_ids_raises_validation_error_with_code() -> None:
    answer = (400, [{"ruleId": None, "jobStatus": "Failed", "httpErrorCode": 400, "error": ERROR_DOC}])
    with pytest.raises(ClinicalOneValidationError) as info:
        drive(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]), lambda req: answer)
    error = info.value
    assert error.code == "JSON-004"
    assert error.status_code == 400
    assert ERROR_DOC["errorMessage"] in error.message
    assert error.details == ERROR_DOC["details"]


def test_update_publish_run_a_400_object_envelope_raises_validation_error_with_code_and_message() -> None:
    with pytest.raises(ClinicalOneValidationError) as info:
        drive(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]), lambda req: (400, ERROR_DOC))
    assert info.value.code == "JSON-004"
    assert "Invalid UUID list" in info.value.message
    assert "update_publish_run" in info.value.message
    assert not isinstance(info.value, ValueError)


def test_update_publish_run_a_500_object_envelope_raises_server_error() -> None:
    with pytest.raises(ClinicalOneServerError) as info:
        drive(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]), lambda req: (500, ERROR_DOC))
    assert info.value.code == "JSON-004"
    assert info.value.status_code == 500


def test_update_publish_run_an_empty_400_list_raises_validation_error() -> None:
    with pytest.raises(ClinicalOneValidationError):
        drive(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]), lambda req: (400, []))


def test_update_publish_run_an_unexpected_200_object_raises_an_api_error() -> None:
    with pytest.raises(ClinicalOneAPIError, match="unexpected response shape"):
        drive(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]), lambda req: {"hello": "world"})


def test_update_publish_run_malformed_json_raises_a_transient_error() -> None:
    with pytest.raises(TransientServiceError) as info:
        drive(
            pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]),
            lambda req: make_response(req, 200, content=b'[{"ruleId": "8E22'),
        )
    assert info.value.status_code == 200
    assert "update_publish_run" in str(info.value)


# --- validation before any request ------------------------------------------------------------


def _rejected(call: Callable[[], Any], pattern: str) -> None:
    """The call itself raises: an exchange that validated lazily (on its first step, when the
    request is about to go out) would return without raising, and ``pytest.raises`` fails."""
    with pytest.raises(ValueError, match=pattern):
        call()


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ((STUDY[:-1], "test", "AllData", [RULE_A]), r"^study_id: "),
        (("../x", "test", "AllData", [RULE_A]), r"^study_id: '\.\./x'"),
        ((STUDY, "prod", "AllData", [RULE_A]), r"^mode: 'prod' is not accepted"),
        (
            (STUDY, "test", "Everything", [RULE_A]),
            r"^publish_run: 'Everything' is not accepted; expected one of: AllData, FutureData",
        ),
        ((STUDY, "test", "AllData", []), r"^rule_ids: expected a non-empty list"),
        ((STUDY, "test", "AllData", RULE_A), r"^rule_ids: expected a non-empty list, got str"),
        ((STUDY, "test", "AllData", None), r"^rule_ids: expected a non-empty list"),
        (
            (STUDY, "test", "AllData", [RULE_A, RULE_B, "not-an-id"]),
            r"^rule_ids\[2\]: 'not-an-id' is not a valid id",
        ),
        ((STUDY, "test", "AllData", [RULE_A, 42]), r"^rule_ids\[1\]: expected an id string"),
    ],
)
def test_update_publish_run_rejects_bad_input_at_call_time(args: tuple[Any, ...], pattern: str) -> None:
    _rejected(lambda: pr.update_publish_run(*args), pattern)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: cancel_rule_jobs(STUDY, "test", ["nope"]), r"^rule_ids\[0\]: 'nope' is not a valid id"),
        (lambda: cancel_rule_jobs(STUDY, "uat", [RULE_A]), r"^mode: 'uat' is not accepted"),
        (lambda: get_job_status("x", "test", [RULE_A]), r"^study_id: 'x' is not a valid id"),
        (lambda: get_job_status(STUDY, "test", []), r"^rule_ids: expected a non-empty list"),
        (lambda: get_rerun_history(STUDY, "test", "../" + RULE_A), r"^rule_id: '\.\./"),
        (lambda: get_rerun_history(STUDY, None, RULE_A), r"^mode: None is not accepted"),
        (lambda: fl.RulePager.create(STUDY, "test", form_id="nope"), r"^form_id: 'nope' is not a valid id"),
    ],
    ids=[
        "cancel-bad-id",
        "cancel-bad-mode",
        "status-bad-study",
        "status-empty",
        "history-bad-rule",
        "history-no-mode",
        "pager-bad-form",
    ],
)
def test_every_endpoint_rejects_bad_input_at_call_time_naming_the_field(
    call: Callable[[], Any], pattern: str
) -> None:
    _rejected(call, pattern)


def test_get_rerun_history_names_the_rule_id_field() -> None:
    _rejected(lambda: get_rerun_history(STUDY, "test", RULE_A + "0"), r"^rule_id: ")


def test_cancel_rule_jobs_names_the_index_of_a_bad_rule_id() -> None:
    _rejected(lambda: cancel_rule_jobs(STUDY, "test", [RULE_A, RULE_B, "x"]), r"^rule_ids\[2\]: ")


# --- cancel rule jobs -------------------------------------------------------------------------


def test_cancel_rule_jobs_puts_rule_ids_to_the_cancel_path() -> None:
    (request,) = start(cancel_rule_jobs(STUDY_HYPHENATED_LOWER, "Test", [hyphenate(RULE_A).lower(), RULE_B]))
    assert request.method == "PUT"
    assert request.path == f"{RULE_SVC_PREFIX}/{STUDY}/test/cancelRuleJob"
    assert request.json == {"ruleIds": [RULE_A, RULE_B]}
    assert request.params is None


def test_cancel_rule_jobs_parses_the_reference_answer() -> None:
    reference = {
        "status": "Success",
        "jobStatus": [
            {
                "ruleId": "DBF2C278385E4AF4BA4FBF2AA76D194F",
                "jobId": "91F4E249F44C4C14A372EE30CEA6B7A8",
                "jobStatus": "Success",
                "ruleName": "onesection - create query with form submit dates",
                "jobStartDate": "2025-09-07 19:12:08.747",
                "groupJobId": "F8491962C1574F0A89195560670B59E8",
            }
        ],
    }
    result, _ = drive(
        cancel_rule_jobs(
            STUDY, "test", ["0E1A63683F884B13A3E7BEE9CA4FF1EA", "DBF2C278385E4AF4BA4FBF2AA76D194F"]
        ),
        lambda req: reference,
    )
    assert result.status == "Success"
    assert [j.job_id for j in result.job_status] == ["91F4E249F44C4C14A372EE30CEA6B7A8"]
    assert result.missing_rule_ids == ["0E1A63683F884B13A3E7BEE9CA4FF1EA"]


def test_cancel_rule_jobs_merges_entries_in_input_order_and_reports_missing_rules() -> None:
    def answer(request: ApiRequest) -> dict[str, Any]:
        entries = [
            job_entry(hyphenate(RULE_C).lower(), "Failed to cancel job"),
            job_entry(RULE_A, "Cancelled"),
        ]
        return {"status": "Success", "jobStatus": entries}

    result, _ = drive(cancel_rule_jobs(STUDY, "test", [RULE_A, RULE_B, RULE_C]), answer)
    assert [j.rule_id for j in result.job_status] == [RULE_A, RULE_C]
    assert result.missing_rule_ids == [RULE_B]
    assert [j.rule_id for j in result.cancelled] == [RULE_A]
    assert [j.rule_id for j in result.not_cancelled] == [RULE_C]
    assert result.job_status[1].job_status is RuleJobStatus.FAILED_TO_CANCEL


def test_cancel_rule_jobs_splits_1201_ids_into_three_chunks_and_merges_them_in_input_order() -> None:
    ids = many_ids(1201)
    given = [*reversed(ids), hyphenate(ids[0]).lower(), ids[600].lower()]
    result, driver = drive(
        cancel_rule_jobs(STUDY, "test", given),
        lambda req: {"status": "Success", "jobStatus": [job_entry(r) for r in reversed(req.json["ruleIds"])]},
    )
    expected = list(reversed(ids))
    assert [len(r.json["ruleIds"]) for r in driver.sent] == [500, 500, 201]
    assert [i for r in driver.sent for i in r.json["ruleIds"]] == expected
    assert [j.rule_id for j in result.job_status] == expected
    assert result.missing_rule_ids == []
    assert result.status == "Success"


def test_cancel_rule_jobs_keeps_a_non_success_status_sentence_of_any_chunk() -> None:
    ids = many_ids(501)

    def answer(request: ApiRequest) -> dict[str, Any]:
        status = "Success" if len(request.json["ruleIds"]) == 500 else "Some jobs could not be cancelled"
        return {"status": status, "jobStatus": []}

    result, _ = drive(cancel_rule_jobs(STUDY, "test", ids), answer)
    assert "Some jobs could not be cancelled" in (result.status or "")
    assert result.messages == ["Some jobs could not be cancelled"]
    assert result.missing_rule_ids == ids


def test_cancel_rule_jobs_parses_start_dates_in_the_service_timezone() -> None:
    result, _ = drive(
        cancel_rule_jobs(STUDY, "test", [RULE_A], service_timezone="America/New_York"), echo_jobs
    )
    start_date = result.job_status[0].job_start_date
    assert start_date is not None and start_date.utcoffset() == timedelta(hours=-4)


def test_cancel_rule_jobs_start_dates_default_to_utc() -> None:
    result, _ = drive(cancel_rule_jobs(STUDY, "test", [RULE_A]), echo_jobs)
    assert result.job_status[0].job_start_date == datetime(2025, 9, 7, 19, 12, 8, 747000, tzinfo=timezone.utc)


@pytest.mark.parametrize("outcome_field", ["errorMessage", "status"])
def test_cancel_rule_jobs_a_400_outcome_sentence_raises_validation_error_with_the_sentence(
    outcome_field: str,
) -> None:
    with pytest.raises(ClinicalOneValidationError, match="ruleIds must not be empty") as info:
        drive(
            cancel_rule_jobs(STUDY, "test", [RULE_A]),
            lambda req: (400, {outcome_field: "ruleIds must not be empty", "jobStatus": []}),
        )
    assert info.value.status_code == 400


def test_cancel_rule_jobs_a_success_reply_in_oracles_error_message_shape_parses_its_entries() -> None:
    result, _ = drive(
        cancel_rule_jobs(STUDY, "test", [RULE_A, RULE_B]),
        lambda req: {
            "errorMessage": "Success",
            "jobStatus": [job_entry(RULE_A), job_entry(RULE_B, "Success")],
        },
    )
    assert (result.status, result.messages) == ("Success", [])
    assert [j.rule_id for j in result.cancelled] == [RULE_A]
    assert [j.rule_id for j in result.not_cancelled] == [RULE_B]


def test_cancel_rule_jobs_keeps_a_non_success_error_message_of_a_2xx_reply_as_a_message() -> None:
    ids = many_ids(501)

    def answer(request: ApiRequest) -> dict[str, Any]:
        text = "Success" if len(request.json["ruleIds"]) == 500 else "1 job could not be cancelled"
        return {"errorMessage": text, "jobStatus": [job_entry(r) for r in request.json["ruleIds"]]}

    result, _ = drive(cancel_rule_jobs(STUDY, "test", ids), answer)
    assert result.messages == ["1 job could not be cancelled"]
    assert result.status == "1 job could not be cancelled"
    assert len(result.cancelled) == 501 and result.missing_rule_ids == []


def test_cancel_rule_jobs_a_2xx_success_outcome_with_an_empty_list_reports_the_rule_missing() -> None:
    answer = {"errorMessage": "Success", "jobStatus": []}
    result, _ = drive(cancel_rule_jobs(STUDY, "test", [RULE_A]), lambda req: answer)
    assert (result.status, result.job_status, result.missing_rule_ids) == ("Success", [], [RULE_A])


def test_cancel_rule_jobs_a_500_error_message_reply_raises_server_error_with_its_text() -> None:
    with pytest.raises(ClinicalOneServerError, match="Unexpected failure") as info:
        drive(
            cancel_rule_jobs(STUDY, "test", [RULE_A]),
            lambda req: (500, {"errorMessage": "Unexpected failure", "jobStatus": []}),
        )
    assert info.value.status_code == 500


def test_cancel_rule_jobs_an_entry_without_job_or_status_counts_the_rule_as_missing() -> None:
    def answer(request: ApiRequest) -> dict[str, Any]:
        no_job = {"ruleId": RULE_B, "jobId": None, "jobStatus": None, "jobStartDate": None}
        return {"errorMessage": "Success", "jobStatus": [job_entry(RULE_A), no_job, None]}

    result, _ = drive(cancel_rule_jobs(STUDY, "test", [RULE_A, RULE_B]), answer)
    assert [j.rule_id for j in result.job_status] == [RULE_A]
    assert result.missing_rule_ids == [RULE_B]


def test_get_job_status_a_job_with_a_null_status_is_kept_without_crashing() -> None:
    entry = {**job_entry(RULE_A), "jobStatus": None}
    result, _ = drive(
        get_job_status(STUDY, "test", [RULE_A]),
        lambda req: {"errorMessage": "Success", "jobStatus": [entry]},
    )
    assert [(j.rule_id, j.status, j.is_terminal) for j in result.job_status] == [(RULE_A, None, False)]
    assert result.missing_rule_ids == []


def test_cancel_rule_jobs_a_500_answer_raises_server_error() -> None:
    with pytest.raises(ClinicalOneServerError):
        drive(
            cancel_rule_jobs(STUDY, "test", [RULE_A]),
            lambda req: (500, {"status": "Unexpected failure", "jobStatus": []}),
        )


def test_cancel_rule_jobs_an_unexpected_shape_raises_an_api_error() -> None:
    with pytest.raises(ClinicalOneAPIError, match="unexpected response shape"):
        drive(cancel_rule_jobs(STUDY, "test", [RULE_A]), lambda req: [job_entry(RULE_A)])


def test_cancel_rule_jobs_malformed_json_raises_a_transient_error() -> None:
    with pytest.raises(TransientServiceError):
        drive(
            cancel_rule_jobs(STUDY, "test", [RULE_A]),
            lambda req: make_response(req, 200, content=b"<html>gateway</html>"),
        )


# --- bulk job status (v2.0) -------------------------------------------------------------------


def test_get_job_status_puts_to_the_v2_job_status_path_without_params_by_default() -> None:
    (request,) = start(get_job_status(STUDY, "PRODUCTION", [RULE_A]))
    assert request.method == "PUT"
    assert request.path == f"/ec-rule-svc/rest/v2.0/studies/{STUDY}/production/jobStatus"
    assert request.json == {"ruleIds": [RULE_A]}
    assert not request.params


def test_get_job_status_sends_history_true_when_asked() -> None:
    requests = start(get_job_status(STUDY, "test", many_ids(600), history=True))
    assert [dict(r.params or {}) for r in requests] == [{"history": "true"}, {"history": "true"}]
    assert [len(r.json["ruleIds"]) for r in requests] == [500, 100]


def test_get_job_status_returns_a_job_status_result_in_input_order() -> None:
    result, _ = drive(
        get_job_status(STUDY, "test", [RULE_B, RULE_A], service_timezone="America/New_York"),
        lambda req: {
            "status": "Success",
            "jobStatus": [job_entry(RULE_A, "Running"), job_entry(RULE_B, "Success")],
        },
    )
    assert isinstance(result, JobStatusResult)
    assert [(j.rule_id, j.status) for j in result.job_status] == [(RULE_B, "Success"), (RULE_A, "Running")]
    assert result.job_status[0].job_start_date is not None
    assert result.job_status[0].job_start_date.utcoffset() == timedelta(hours=-4)


# --- rerun history ----------------------------------------------------------------------------

HISTORY_OK = {
    "status": "SUCCESS",
    "statusDetail": None,
    "ruleHistory": [
        {
            "ruleId": "704A7178208D44BC9AD52556B18933C3",
            "jobId": "0E2428167F66445BAB544C7CDD884E87",
            "jobStatus": "Success",
            "ruleName": "screening - create query with form submit dates",
            "jobStartDate": "2025-09-07 19:08:07.437",
            "userId": "0000000000000000000000000000000A",
            "countPassedSubjects": 1,
            "countFailedSubjects": 0,
        }
    ],
}


def test_get_rerun_history_gets_the_rerun_history_path_without_a_body() -> None:
    (request,) = start(get_rerun_history(STUDY_HYPHENATED_LOWER, "TEST", hyphenate(HISTORY_RULE).lower()))
    assert request.method == "GET"
    assert request.path == f"{RULE_SVC_PREFIX}/{STUDY}/test/rerunhistory/{HISTORY_RULE}"
    assert request.json is None
    assert request.params is None


def test_get_rerun_history_parses_jobs_in_the_service_timezone() -> None:
    history, driver = drive(
        get_rerun_history(STUDY, "test", HISTORY_RULE, service_timezone="America/New_York"),
        lambda req: HISTORY_OK,
    )
    assert len(driver.sent) == 1
    assert history.status == "SUCCESS"
    assert history.latest is not None and history.latest.job_id == "0E2428167F66445BAB544C7CDD884E87"
    assert history.latest.job_start_date == datetime(2025, 9, 7, 23, 8, 7, 437000, tzinfo=timezone.utc)


@pytest.mark.parametrize("http_status", [200, 404])
def test_get_rerun_history_not_found_raises_not_found_error_with_the_detail(http_status: int) -> None:
    body = {
        "status": "NOT_FOUND",
        "statusDetail": "Rule execution job not found for the supplied identifier.",
    }
    with pytest.raises(ClinicalOneNotFoundError) as info:
        drive(get_rerun_history(STUDY, "test", HISTORY_RULE), lambda req: (http_status, body))
    assert info.value.code == "NOT_FOUND"
    assert "Rule execution job not found for the supplied identifier." in info.value.message
    assert info.value.status_code == http_status


@pytest.mark.parametrize(
    ("status", "error_class"),
    [("VALIDATION_ERROR", ClinicalOneValidationError), ("SERVER_ERROR", ClinicalOneServerError)],
)
def test_get_rerun_history_error_statuses_raise_typed_errors(
    status: str, error_class: type[Exception]
) -> None:
    with pytest.raises(error_class):
        drive(
            get_rerun_history(STUDY, "test", HISTORY_RULE),
            lambda req: (400, {"status": status, "statusDetail": "x"}),
        )


def test_get_rerun_history_malformed_json_raises_a_transient_error() -> None:
    with pytest.raises(TransientServiceError):
        drive(
            get_rerun_history(STUDY, "test", HISTORY_RULE),
            lambda req: make_response(req, 200, content=b'{"status": "SUC'),
        )


def test_get_rerun_history_response_without_status_raises_a_provider_error_not_value_error() -> None:
    # DESIGN.md: service errors are typed provider errors and never ValueError, which means
    # only "rejected before sending". A well-formed JSON answer missing the required
    # ``status`` must therefore not surface as pydantic's ValidationError (a ValueError).
    with pytest.raises(ClinicalRulesError):
        drive(get_rerun_history(STUDY, "test", HISTORY_RULE), lambda req: {"ruleHistory": []})


# --- decode_json ------------------------------------------------------------------------------


def test_decode_json_turns_an_unparsable_2xx_body_into_a_transient_error_naming_the_endpoint() -> None:
    response = httpx.Response(200, content=b"<html>proxy login</html>")
    with pytest.raises(TransientServiceError) as info:
        decode_json(response, "list_rules")
    assert not isinstance(info.value, ValueError)
    assert info.value.status_code == 200
    assert "list_rules" in str(info.value) and "HTTP 200" in str(info.value)


def test_an_html_404_page_raises_an_api_error_that_is_not_a_not_found_answer() -> None:
    with pytest.raises(ClinicalOneAPIError) as info:
        drive(
            pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]),
            lambda req: make_response(req, 404, content=b"<html>Not Found</html>"),
        )
    assert info.value.status_code == 404
    assert not isinstance(info.value, ClinicalOneNotFoundError)


def test_decode_json_decodes_each_body_once() -> None:
    response = httpx.Response(200, content=json.dumps({"a": [1]}).encode())
    first = decode_json(response, "x")
    assert decode_json(response, "x") is first


def test_rerun_history_reads_start_dates_in_utc_by_default() -> None:
    body = {"status": "SUCCESS", "ruleHistory": [job_entry(RULE_A, "Success", "2025-09-07 19:12:08.747")]}
    history, _ = drive(get_rerun_history(STUDY, "test", RULE_A), lambda request: body)
    assert history.rule_history[0].job_start_date == datetime(
        2025, 9, 7, 19, 12, 8, 747000, tzinfo=timezone.utc
    )


# --- the bulk job status: names and errors ------------------------------------------------------


def job_status_error(body: Any, status: int = 200) -> ClinicalRulesError:
    with pytest.raises(ClinicalRulesError) as info:
        drive(get_job_status(STUDY, "test", [RULE_A]), lambda request: (status, body))
    return info.value


def test_job_status_requests_are_named_get_job_status() -> None:
    (request,) = get_job_status(STUDY, "test", [RULE_A]).send(None)
    assert request.endpoint == "get_job_status"


def test_a_2xx_job_status_reply_with_an_error_outcome_and_no_list_is_the_services_error() -> None:
    error = job_status_error({"errorMessage": "Study locked"})
    assert type(error) is ClinicalOneAPIError
    assert error.message == "get_job_status: Study locked"


def test_a_job_status_reply_without_its_list_names_its_members() -> None:
    error = job_status_error({"errorMessage": "Success", "extra": 1})
    assert type(error) is UnexpectedResponseError
    assert error.message == (
        "get_job_status: the reply has no jobStatus list (members: errorMessage, extra), so it cannot say "
        "which rules have jobs"
    )
    assert error.status_code == 200


def test_a_job_status_reply_without_members_says_none() -> None:
    error = job_status_error({}, 201)
    assert error.message.startswith("get_job_status: the reply has no jobStatus list (members: none)")
    assert error.status_code == 201


def test_the_members_named_are_the_first_ten_each_cut_to_40_characters() -> None:
    body: dict[str, Any] = {"errorMessage": "Success", "k" * 45: 1}
    body.update({f"m{n:02d}": n for n in range(10)})
    error = job_status_error(body)
    members = ", ".join(["errorMessage", "k" * 40, *[f"m{n:02d}" for n in range(8)]])
    assert f"(members: {members})" in error.message


def test_a_job_status_list_of_another_type_is_an_unexpected_shape_with_the_http_status() -> None:
    error = job_status_error({"errorMessage": "Success", "jobStatus": "none"}, 203)
    assert type(error) is ClinicalOneAPIError
    assert error.message == "get_job_status: unexpected response shape"
    assert error.status_code == 203
