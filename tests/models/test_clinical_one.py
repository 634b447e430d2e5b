"""Clinical One models: every example payload of the four references parses.

The JSON texts below are copied literally from ``api-docs/`` (one constant per example).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from clinical_rules_provider.models.clinical_one import (
    CancelRuleJobsResult,
    ErrorDetail,
    JobStatusResult,
    PublishRunOutcome,
    PublishRunResult,
    RerunHistory,
    RuleFilter,
    RuleJob,
    RuleListPage,
    RuleSummary,
    dump_json,
    latest_job,
)
from clinical_rules_provider.models.enums import (
    PublishJobStatus,
    PublishRun,
    RuleJobStatus,
    RuleState,
    SortOrder,
)

# --- clinical-one-update-publish-run.txt ----------------------------------------------------

PUBLISH_REQUEST_RULE_IDS = """[
"938D23FA6B7241CCA41BD627E5DB60DA",
"699EF3745FC545589F186D2198F3C65E"
]"""

PUBLISH_ITEM = """{
"ruleId":"8E2253D8E53A4A46BAE3E4952CBE9E5A",
"ruleName":"Out of Range Visit Date",
"jobStatus":"Success",
"ruleValidationMessage":"Rule updated successfully.",
"ruleValidationStatus":true,
"httpErrorCode":200,
"httpErrorMessage":"Success",
"result":{
"status":"success",
"result":"Publish run updated to AllData"
},
"error":null
}"""

PUBLISH_ERROR_DOC = """{
"status":"failed",
"result":null,
"errorCode":"JSON-004",
"errorMessage":"Invalid UUID list. One or more elements are invalid. Must contain at least one element.",
"details":"ruleIds must contain at least one value."
}"""

PUBLISH_RESULT_DOC = """{
"status":"success",
"result":"Publish run updated to AllData"
}"""

# --- clinical-one-filtered-rule-list.txt ----------------------------------------------------

FILTER_ITEM_IDS = """[
    "2F4F4E67-E0CE-4BE0-BB95-44D2CD38A569"
]"""

FILTER_RULE_STATES = """[
    "draft",
    "publish"
]"""

FILTER_RESULT_DATA = """[
    {
        "ruleId":"8E2253D8E53A4A46BAE3E4952CBE9E5A",
        "ruleName":"Out of Range Visit Date",
        "ruleState":"approved",
        "ruleValidationStatus":"true"
    }
]"""

FILTER_RULE_SUMMARY = """{
    "ruleId":"8E2253D8E53A4A46BAE3E4952CBE9E5A",
    "ruleName":"Out of Range Visit Date",
    "ruleState":"approved",
    "ruleValidationStatus":"true"
}"""

FILTER_ERROR_DOC = """{
    "status":"failed",
    "result":null,
    "errorCode":"JSON-004",
    "errorMessage":"Invalid UUID list. One or more elements are invalid. Must contain at least one element.",
    "details":"ruleIds must contain at least one value."
}"""

# --- clinical-one-rerun-history.txt ----------------------------------------------------------

HISTORY_LIST = """[
{
"ruleId":"704A7178208D44BC9AD52556B18933C3",
"jobId":"0E2428167F66445BAB544C7CDD884E87",
"jobStatus":"Success",
"ruleName":"screening - create query with form submit dates",
"jobStartDate":"2025-09-07 19:08:07.437",
"userId":"0000000000000000000000000000000A",
"countPassedSubjects":1,
"countFailedSubjects":0
}
]"""

HISTORY_ENTRY = """{
"ruleId":"704A7178208D44BC9AD52556B18933C3",
"jobId":"0E2428167F66445BAB544C7CDD884E87",
"jobStatus":"Success",
"ruleName":"screening - create query with form submit dates",
"jobStartDate":"2025-09-07 19:08:07.437",
"userId":"0000000000000000000000000000000A",
"countPassedSubjects":1,
"countFailedSubjects":0
}"""

# --- clinical-one-cancel-rule-job.txt ---------------------------------------------------------

CANCEL_REQUEST_RULE_IDS = """[
    "0E1A63683F884B13A3E7BEE9CA4FF1EA",
    "DBF2C278385E4AF4BA4FBF2AA76D194F"
]"""

CANCEL_JOB_STATUS_LIST = """[
    {
        "ruleId":"DBF2C278385E4AF4BA4FBF2AA76D194F",
        "jobId":"91F4E249F44C4C14A372EE30CEA6B7A8",
        "jobStatus":"Success",
        "ruleName":"onesection - create query with form submit dates",
        "jobStartDate":"2025-09-07 19:12:08.747",
        "groupJobId":"F8491962C1574F0A89195560670B59E8"
    }
]"""

CANCEL_JOB_STATUS_ENTRY = """{
    "ruleId":"DBF2C278385E4AF4BA4FBF2AA76D194F",
    "jobId":"91F4E249F44C4C14A372EE30CEA6B7A8",
    "jobStatus":"Success",
    "ruleName":"onesection - create query with form submit dates",
    "jobStartDate":"2025-09-07 19:12:08.747",
    "groupJobId":"F8491962C1574F0A89195560670B59E8"
}"""

NEW_YORK = {"service_timezone": "America/New_York"}


def _job(rule_id: str, job_id: str, start: str | None, status: str = "Success") -> dict[str, object]:
    return {"ruleId": rule_id, "jobId": job_id, "jobStatus": status, "jobStartDate": start}


# --- publish run -----------------------------------------------------------------------------


def test_publish_run_reference_item_parses_into_a_successful_result() -> None:
    item = PublishRunResult.model_validate(json.loads(PUBLISH_ITEM))
    assert item.rule_id == "8E2253D8E53A4A46BAE3E4952CBE9E5A"
    assert item.rule_name == "Out of Range Visit Date"
    assert item.job_status is PublishJobStatus.SUCCESS
    assert item.rule_validation_message == "Rule updated successfully."
    assert item.rule_validation_status is True
    assert item.http_error_code == 200
    assert item.http_error_message == "Success"
    assert item.result == PublishRunOutcome(status="success", result="Publish run updated to AllData")
    assert item.error is None
    assert item.succeeded is True
    assert item.failure_reason is None


def test_publish_run_reference_result_doc_parses() -> None:
    outcome = PublishRunOutcome.model_validate(json.loads(PUBLISH_RESULT_DOC))
    assert (outcome.status, outcome.result) == ("success", "Publish run updated to AllData")


@pytest.mark.parametrize("text", [PUBLISH_ERROR_DOC, FILTER_ERROR_DOC], ids=["publish-run", "filteredlist"])
def test_reference_error_doc_parses_into_error_detail(text: str) -> None:
    error = ErrorDetail.model_validate(json.loads(text))
    assert error.status == "failed"
    assert error.result is None
    assert error.error_code == "JSON-004"
    assert (
        error.error_message
        == "Invalid UUID list. One or more elements are invalid. Must contain at least one element."
    )
    assert error.details == "ruleIds must contain at least one value."


def test_publish_run_reference_request_rule_ids_are_valid_rule_ids() -> None:
    from clinical_rules_provider.clients.clinical_one import rule_id_list

    assert rule_id_list(json.loads(PUBLISH_REQUEST_RULE_IDS)) == [
        "938D23FA6B7241CCA41BD627E5DB60DA",
        "699EF3745FC545589F186D2198F3C65E",
    ]


def test_publish_run_item_with_error_doc_fails_and_explains_why() -> None:
    item = PublishRunResult.model_validate(
        {
            "ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A",
            "jobStatus": "Failed",
            "ruleValidationStatus": False,
            "httpErrorCode": 400,
            "error": json.loads(PUBLISH_ERROR_DOC),
        }
    )
    assert item.succeeded is False
    assert item.failure_reason == (
        "jobStatus=Failed: JSON-004 - Invalid UUID list. One or more elements are invalid. "
        "Must contain at least one element. - ruleIds must contain at least one value."
    )


def test_publish_run_success_with_validation_status_false_is_an_update_with_a_warning() -> None:
    item = PublishRunResult.model_validate(
        {
            "ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A",
            "jobStatus": "Success",
            "ruleValidationStatus": False,
            "ruleValidationMessage": "Rule references a deleted item.",
        }
    )
    assert item.succeeded is True
    assert item.failure_reason is None
    assert item.warning == "Rule references a deleted item."


def test_publish_run_validation_status_false_without_message_still_warns() -> None:
    item = PublishRunResult.model_validate(
        {"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", "jobStatus": "Queued"}
    )
    assert item.warning is None
    item.rule_validation_status = False
    assert item.warning == "ruleValidationStatus is false"


def test_publish_run_failed_item_reports_a_failure_not_a_warning() -> None:
    item = PublishRunResult.model_validate(
        {
            "ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A",
            "jobStatus": "Failed",
            "ruleValidationStatus": False,
            "ruleValidationMessage": "Rule references a deleted item.",
        }
    )
    assert (item.succeeded, item.warning) == (False, None)
    assert item.failure_reason == "jobStatus=Failed: Rule references a deleted item."


def test_publish_run_success_status_with_an_error_object_is_not_a_success() -> None:
    item = PublishRunResult.model_validate(
        {"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", "jobStatus": "Success", "error": {"errorCode": "E-1"}}
    )
    assert item.succeeded is False
    assert item.failure_reason == "jobStatus=Success: E-1"


@pytest.mark.parametrize("status", ["Queued", "InProgress"])
def test_publish_run_queued_and_in_progress_count_as_updated(status: str) -> None:
    item = PublishRunResult.model_validate(
        {"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", "jobStatus": status, "ruleValidationStatus": True}
    )
    assert (item.succeeded, item.failure_reason, item.warning) == (True, None, None)


@pytest.mark.parametrize("status", ["Failed", "Error", "Missing", "Deferred", None])
def test_publish_run_failure_unknown_and_absent_statuses_are_not_updates(status: str | None) -> None:
    item = PublishRunResult.model_validate(
        {"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", "jobStatus": status}
    )
    assert item.succeeded is False
    assert item.failure_reason == f"jobStatus={status}"


def test_publish_run_unknown_job_status_stays_a_string() -> None:
    item = PublishRunResult.model_validate(
        {"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", "jobStatus": "Deferred"}
    )
    assert item.job_status == "Deferred"
    assert not isinstance(item.job_status, PublishJobStatus)
    assert item.succeeded is False


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("false", False), ("1", True), (0, False), ("", None)]
)
def test_publish_run_validation_status_accepts_the_services_flag_spellings(
    raw: object, expected: object
) -> None:
    item = PublishRunResult.model_validate({"ruleValidationStatus": raw})
    assert item.rule_validation_status is expected


# --- filtered list ---------------------------------------------------------------------------


def test_filtered_list_reference_rule_summary_parses() -> None:
    rule = RuleSummary.model_validate(json.loads(FILTER_RULE_SUMMARY))
    assert rule.rule_id == "8E2253D8E53A4A46BAE3E4952CBE9E5A"
    assert rule.rule_name == "Out of Range Visit Date"
    assert rule.rule_state is RuleState.APPROVED
    assert rule.rule_validation_status is True


def test_filtered_list_reference_result_data_parses_as_a_page() -> None:
    page = RuleListPage.model_validate({"resultData": json.loads(FILTER_RESULT_DATA)})
    assert [r.rule_id for r in page.result_data] == ["8E2253D8E53A4A46BAE3E4952CBE9E5A"]
    assert page.total_count is None
    assert page.has_more is None


def test_filtered_list_reference_request_examples_build_a_rule_filter() -> None:
    body = {
        "formId": "39903D6C-042D-4D9E-8977-3160488E6D3D",
        "itemId": json.loads(FILTER_ITEM_IDS),
        "publishRun": "FutureData",
        "ruleEnabled": "1",
        "ruleState": json.loads(FILTER_RULE_STATES),
        "ruleTrainingEnabled": "true",
        "sortColumn": "ruleName",
        "sortOrder": "ASC",
        "userId": "0000000000000000000000000000000A",
        "userName": "jsmith",
    }
    rule_filter = RuleFilter.model_validate(body)
    assert rule_filter.publish_run is PublishRun.FUTURE_DATA
    assert rule_filter.rule_state == [RuleState.DRAFT, RuleState.PUBLISH]
    assert rule_filter.sort_order is SortOrder.ASC
    assert rule_filter.model_dump(mode="json", exclude_none=True) == body


def test_rule_summary_reads_documented_and_lenient_fields_and_keeps_unknown_ones() -> None:
    rule = RuleSummary.model_validate(
        {
            "formName": "Screening Visit",
            "formRefName": "SCR_VISIT",
            "lastModified": "2025-11-02T14:45:22Z",
            "publishRun": "AllData",
            "questionName": "Visit Date",
            "questionRefName": "VISIT_DATE",
            "recordType": "VISIT",
            "ruleAction": "CREATE_QUERY",
            "ruleDeleted": 0,
            "ruleDescription": "Creates a query when visit date falls outside the allowable window.",
            "ruleEnabled": 1,
            "ruleExecutedInProd": "false",
            "ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A",
            "ruleName": "Out of Range Visit Date",
            "ruleOrder": 10,
            "ruleOrigin": "UI",
            "ruleRefName": "VISIT_DATE_RANGE_VALIDATION",
            "ruleState": "approved",
            "ruleTrainingEnabled": "false",
            "ruleValidationMessage": "Rule evaluated successfully.",
            "ruleValidationStatus": "true",
            "userId": "0000000000000000000000000000000A",
            "userName": "jsmith",
            "versionEnd": "2026-01-15T08:30:00Z",
            "versionStart": "2025-09-07T19:12:08Z",
        }
    )
    assert rule.publish_run is PublishRun.ALL_DATA
    assert rule.rule_enabled is True
    assert rule.training is False
    assert rule.form_ref_name == "SCR_VISIT"
    assert rule.question_ref_name == "VISIT_DATE"
    assert rule.rule_ref_name == "VISIT_DATE_RANGE_VALIDATION"
    assert rule.user_name == "jsmith"
    assert rule.last_modified == datetime(2025, 11, 2, 14, 45, 22, tzinfo=timezone.utc)
    assert rule.model_extra is not None
    assert rule.model_extra["ruleOrigin"] == "UI"
    assert (rule.rule_order, rule.rule_deleted) == (10, False)
    assert rule.version_start == datetime(2025, 9, 7, 19, 12, 8, tzinfo=timezone.utc)
    assert rule.version_end == datetime(2026, 1, 15, 8, 30, tzinfo=timezone.utc)


PUBLISHED_AND_OLD_NAMES = [
    ("lastModifiedDate", "lastModified", "last_modified", "2025-11-02T14:45:22Z"),
    ("ruleOrder", "displayOrder", "rule_order", 10),
    ("ruleOriginType", "ruleSource", "rule_origin_type", "UI"),
    ("ruleDeleted", "isDeleted", "rule_deleted", 0),
    ("ruleEverInProduction", "executedInProduction", "rule_ever_in_production", "true"),
]


@pytest.mark.parametrize(("published", "old", "attribute", "value"), PUBLISHED_AND_OLD_NAMES)
def test_rule_summary_reads_oracles_published_name_and_the_old_simulator_name_alike(
    published: str, old: str, attribute: str, value: Any
) -> None:
    rule_id = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
    new = RuleSummary.model_validate({"ruleId": rule_id, published: value})
    former = RuleSummary.model_validate({"ruleId": rule_id, old: value})
    assert getattr(new, attribute) is not None
    assert getattr(new, attribute) == getattr(former, attribute)
    assert not new.model_extra and not former.model_extra


def test_rule_summary_reads_the_rule_action_fields() -> None:
    rule = RuleSummary.model_validate(
        {
            "ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A",
            "ruleActionTarget": "VISIT",
            "ruleActionTypeName": "CREATE_QUERY",
        }
    )
    assert (rule.rule_action_target, rule.rule_action_type_name) == ("VISIT", "CREATE_QUERY")


@pytest.mark.parametrize("key", ["ruleTrainingEnabled", "training"])
def test_rule_summary_reads_training_under_either_name(key: str) -> None:
    rule = RuleSummary.model_validate({"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", key: "true"})
    assert rule.training is True


def test_rule_summary_unknown_rule_state_stays_a_string() -> None:
    rule = RuleSummary.model_validate(
        {"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", "ruleState": "retired", "publishRun": "SomeData"}
    )
    assert rule.rule_state == "retired"
    assert not isinstance(rule.rule_state, RuleState)
    assert rule.publish_run == "SomeData"


@pytest.mark.parametrize("key", ["totalCount", "total"])
def test_rule_list_page_reads_the_total_under_either_name(key: str) -> None:
    page = RuleListPage.model_validate({"resultData": [], key: 42, "hasMore": "false"})
    assert page.total_count == 42
    assert page.has_more is False


def test_rule_summary_dumps_camel_case_json_data_with_extras() -> None:
    rule = RuleSummary.model_validate(
        {**json.loads(FILTER_RULE_SUMMARY), "lastModified": "2025-11-02T14:45:22Z", "ruleOrigin": "UI"}
    )
    dumped = rule.model_dump(mode="json")
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped["ruleId"] == "8E2253D8E53A4A46BAE3E4952CBE9E5A"
    assert dumped["ruleName"] == "Out of Range Visit Date"
    assert dumped["ruleState"] == "approved"
    assert dumped["ruleValidationStatus"] is True
    assert dumped["ruleOrigin"] == "UI"
    assert dumped["lastModified"].startswith("2025-11-02T14:45:22")
    assert "rule_id" not in dumped and "rule_name" not in dumped


# --- rerun history ---------------------------------------------------------------------------


def test_rerun_history_reference_entry_parses() -> None:
    job = RuleJob.model_validate(json.loads(HISTORY_ENTRY))
    assert job.rule_id == "704A7178208D44BC9AD52556B18933C3"
    assert job.job_id == "0E2428167F66445BAB544C7CDD884E87"
    assert job.job_status is RuleJobStatus.SUCCESS
    assert job.rule_name == "screening - create query with form submit dates"
    assert job.user_id == "0000000000000000000000000000000A"
    assert job.count_passed_subjects == 1
    assert job.count_failed_subjects == 0
    assert job.job_start_date == datetime(2025, 9, 7, 19, 8, 7, 437000, tzinfo=timezone.utc)
    assert job.is_terminal is True
    assert job.status == "Success"


def test_rerun_history_reference_list_parses_inside_the_documented_envelope() -> None:
    history = RerunHistory.model_validate(
        {"status": "SUCCESS", "statusDetail": None, "ruleHistory": json.loads(HISTORY_LIST)}, context=NEW_YORK
    )
    assert history.status == "SUCCESS"
    assert [j.job_id for j in history.rule_history] == ["0E2428167F66445BAB544C7CDD884E87"]
    start = history.rule_history[0].job_start_date
    assert start is not None and start.utcoffset() == timedelta(hours=-4)


def test_rerun_history_not_found_envelope_parses_with_its_detail() -> None:
    history = RerunHistory.model_validate(
        {"status": "NOT_FOUND", "statusDetail": "Rule execution job not found for the supplied identifier."}
    )
    assert history.status_detail == "Rule execution job not found for the supplied identifier."
    assert history.rule_history == []
    assert history.latest is None


def test_job_start_date_is_parsed_in_the_service_timezone_from_the_context() -> None:
    job = RuleJob.model_validate(json.loads(HISTORY_ENTRY), context=NEW_YORK)
    start = job.job_start_date
    assert start is not None and start.tzinfo is not None
    assert start.utcoffset() == timedelta(hours=-4)  # EDT in September
    assert (start.year, start.month, start.day, start.hour, start.minute, start.second) == (
        2025,
        9,
        7,
        19,
        8,
        7,
    )
    assert start.microsecond == 437000
    assert start == datetime(2025, 9, 7, 23, 8, 7, 437000, tzinfo=timezone.utc)


def test_job_start_date_in_winter_uses_the_standard_offset_of_the_service_timezone() -> None:
    job = RuleJob.model_validate(
        _job("704A7178208D44BC9AD52556B18933C3", "J1", "2025-01-15 08:00:00.000"), context=NEW_YORK
    )
    assert job.job_start_date is not None
    assert job.job_start_date.utcoffset() == timedelta(hours=-5)


def test_job_start_date_defaults_to_utc_without_a_context() -> None:
    job = RuleJob.model_validate(json.loads(CANCEL_JOB_STATUS_ENTRY))
    start = job.job_start_date
    assert start is not None and start.utcoffset() == timedelta(0)
    assert start == datetime(2025, 9, 7, 19, 12, 8, 747000, tzinfo=timezone.utc)


def test_job_start_date_with_an_explicit_offset_keeps_that_offset() -> None:
    job = RuleJob.model_validate(
        _job("704A7178208D44BC9AD52556B18933C3", "J1", "2025-09-07T19:12:08.747+02:00"), context=NEW_YORK
    )
    assert job.job_start_date == datetime(2025, 9, 7, 17, 12, 8, 747000, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw", [None, ""])
def test_job_start_date_missing_or_empty_is_none(raw: object) -> None:
    job = RuleJob.model_validate({"ruleId": "704A7178208D44BC9AD52556B18933C3", "jobStartDate": raw})
    assert job.job_start_date is None


def test_rule_job_unknown_status_stays_a_string_and_is_not_terminal() -> None:
    job = RuleJob.model_validate({**json.loads(HISTORY_ENTRY), "jobStatus": "Archived", "newField": [1, 2]})
    assert job.job_status == "Archived"
    assert job.status == "Archived"
    assert job.is_terminal is False
    assert job.model_extra == {"newField": [1, 2]}


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("Running", False),
        ("Pending", False),
        ("Failed to cancel job", False),
        ("Cancelled", True),
        ("Failed", True),
    ],
)
def test_rule_job_is_terminal_follows_the_status_semantics(status: str, terminal: bool) -> None:
    assert RuleJob.model_validate({"jobStatus": status}).is_terminal is terminal


def test_rule_job_dumps_camel_case_json_with_an_offset_aware_start_date() -> None:
    job = RuleJob.model_validate(
        {**json.loads(CANCEL_JOB_STATUS_ENTRY), "extraThing": "kept"}, context=NEW_YORK
    )
    dumped = job.model_dump(mode="json")
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped["ruleId"] == "DBF2C278385E4AF4BA4FBF2AA76D194F"
    assert dumped["jobId"] == "91F4E249F44C4C14A372EE30CEA6B7A8"
    assert dumped["groupJobId"] == "F8491962C1574F0A89195560670B59E8"
    assert dumped["jobStatus"] == "Success"
    assert dumped["extraThing"] == "kept"
    assert datetime.fromisoformat(dumped["jobStartDate"]) == datetime(
        2025, 9, 7, 23, 12, 8, 747000, tzinfo=timezone.utc
    )
    assert dumped["jobStartDate"].endswith("-04:00")


def test_dump_json_turns_models_into_plain_json_data() -> None:
    jobs = [
        RuleJob.model_validate(json.loads(HISTORY_ENTRY)),
        RuleJob.model_validate(json.loads(CANCEL_JOB_STATUS_ENTRY)),
    ]
    data = dump_json(jobs)
    assert json.loads(json.dumps(data)) == data
    assert [d["ruleId"] for d in data] == [
        "704A7178208D44BC9AD52556B18933C3",
        "DBF2C278385E4AF4BA4FBF2AA76D194F",
    ]


def test_rerun_history_latest_is_the_newest_job_whatever_the_order() -> None:
    rule = "704A7178208D44BC9AD52556B18933C3"
    raw = [
        _job(rule, "OLD", "2025-09-07 19:08:07.437"),
        _job(rule, "NEWEST", "2025-09-08 01:00:00.000"),
        _job(rule, "NODATE", None),
        _job(rule, "MIDDLE", "2025-09-07 23:59:59.999"),
    ]
    for ordering in (raw, list(reversed(raw)), raw[2:] + raw[:2]):
        history = RerunHistory.model_validate({"status": "SUCCESS", "ruleHistory": ordering})
        assert history.latest is not None
        assert history.latest.job_id == "NEWEST"


def test_rerun_history_latest_compares_instants_not_wall_clock_text() -> None:
    history = RerunHistory.model_validate(
        {
            "status": "SUCCESS",
            "ruleHistory": [
                _job("704A7178208D44BC9AD52556B18933C3", "LATER", "2025-09-07T10:00:00+00:00"),
                _job("704A7178208D44BC9AD52556B18933C3", "EARLIER", "2025-09-07T11:00:00+02:00"),
            ],
        }
    )
    assert history.latest is not None and history.latest.job_id == "LATER"


def test_latest_job_with_only_undated_jobs_returns_one_of_them_and_none_for_no_jobs() -> None:
    undated = RuleJob.model_validate({"jobId": "A"})
    assert latest_job([undated]) is undated
    assert latest_job([]) is None


def test_rerun_history_jobs_since_keeps_jobs_at_or_after_the_threshold() -> None:
    rule = "704A7178208D44BC9AD52556B18933C3"
    history = RerunHistory.model_validate(
        {
            "status": "SUCCESS",
            "ruleHistory": [
                _job(rule, "BEFORE", "2025-09-07 19:08:07.436"),
                _job(rule, "EXACT", "2025-09-07 19:08:07.437"),
                _job(rule, "NODATE", None),
                _job(rule, "AFTER", "2025-09-08 00:00:00.000"),
            ],
        },
        context=NEW_YORK,
    )
    threshold = datetime(2025, 9, 7, 23, 8, 7, 437000, tzinfo=timezone.utc)  # 19:08:07.437 EDT
    assert [j.job_id for j in history.jobs_since(threshold)] == ["EXACT", "AFTER"]


# --- cancel / job status ---------------------------------------------------------------------


def test_cancel_reference_job_status_list_parses_inside_the_documented_envelope() -> None:
    result = CancelRuleJobsResult.model_validate(
        {"status": "Success", "jobStatus": json.loads(CANCEL_JOB_STATUS_LIST)}
    )
    assert result.status == "Success"
    (entry,) = result.job_status
    assert entry.rule_id == "DBF2C278385E4AF4BA4FBF2AA76D194F"
    assert entry.group_job_id == "F8491962C1574F0A89195560670B59E8"
    assert entry.job_status is RuleJobStatus.SUCCESS
    assert result.missing_rule_ids == []


def test_cancel_reference_request_rule_ids_are_valid_rule_ids() -> None:
    from clinical_rules_provider.clients.clinical_one import rule_id_list

    assert rule_id_list(json.loads(CANCEL_REQUEST_RULE_IDS)) == json.loads(CANCEL_REQUEST_RULE_IDS)


def test_cancel_result_splits_cancelled_from_not_cancelled_entries() -> None:
    result = CancelRuleJobsResult.model_validate(
        {
            "status": "Success",
            "jobStatus": [
                {"ruleId": "A" * 32, "jobStatus": "Cancelled"},
                {"ruleId": "B" * 32, "jobStatus": "Failed to cancel job"},
                {"ruleId": "C" * 32, "jobStatus": "Success"},
            ],
        }
    )
    assert [j.rule_id for j in result.cancelled] == ["A" * 32]
    assert [j.rule_id for j in result.not_cancelled] == ["B" * 32, "C" * 32]


def test_job_status_result_has_the_cancel_shape_and_parses_start_dates_in_context() -> None:
    result = JobStatusResult.model_validate(
        {"status": "Success", "jobStatus": [json.loads(CANCEL_JOB_STATUS_ENTRY)]}, context=NEW_YORK
    )
    start = result.job_status[0].job_start_date
    assert start is not None and start.utcoffset() == timedelta(hours=-4)


def test_cancel_result_dumps_camel_case_json_data() -> None:
    result = CancelRuleJobsResult.model_validate(
        {
            "status": "Success",
            "jobStatus": json.loads(CANCEL_JOB_STATUS_LIST),
            "missingRuleIds": ["0E1A63683F884B13A3E7BEE9CA4FF1EA"],
        }
    )
    dumped = result.model_dump(mode="json")
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped["missingRuleIds"] == ["0E1A63683F884B13A3E7BEE9CA4FF1EA"]
    assert dumped["jobStatus"][0]["jobStartDate"].startswith("2025-09-07T19:12:08.747")


def test_publish_result_dumps_camel_case_json_data() -> None:
    dumped = PublishRunResult.model_validate(json.loads(PUBLISH_ITEM)).model_dump(mode="json")
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped["ruleId"] == "8E2253D8E53A4A46BAE3E4952CBE9E5A"
    assert dumped["jobStatus"] == "Success"
    assert dumped["ruleValidationStatus"] is True
    assert dumped["httpErrorCode"] == 200
    assert dumped["result"] == {"status": "success", "result": "Publish run updated to AllData"}
