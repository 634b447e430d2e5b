"""Clinical One replies read field by field: job-status outcomes and order, publish-run items and
errors, each naming its endpoint. Each test names one behaviour the mutation run
(``make mutation``, docs/mutation-testing.md) found unguarded by the rest of ``tests/clients``."""

from __future__ import annotations

from typing import Any

import pytest

from clinical_rules_provider.clients import publish_run as pr
from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.exceptions import (
    ClinicalOneAPIError,
    ClinicalOneValidationError,
    TransientServiceError,
)
from clinical_rules_provider.models.enums import PUBLISH_MISSING_STATUS
from tests.clients.test_clinical_one import (
    ERROR_DOC,
    RULE_A,
    RULE_B,
    RULE_C,
    STUDY,
    cancel_rule_jobs,
    drive,
    get_job_status,
    job_entry,
    make_response,
    publish_item,
)
from tests.clients.test_publish_run import Service, new_job_id, publish

IDS = [f"{i:032X}" for i in range(1, 502)]  # two chunks: 500 and 1


# --- job-status outcomes and order --------------------------------------------------------------


def cancel(ids: list[str], body: Any) -> Any:
    result, _ = drive(cancel_rule_jobs(STUDY, "test", ids), body if callable(body) else lambda r: body)
    return result


def test_cancel_requests_are_named_cancel_rule_jobs() -> None:
    (request,) = cancel_rule_jobs(STUDY, "test", [RULE_A]).send(None)
    assert request.endpoint == "cancel_rule_jobs"


def test_an_empty_error_message_leaves_the_outcome_to_status() -> None:
    result = cancel(
        [RULE_A], {"errorMessage": "", "status": "Partly cancelled", "jobStatus": [job_entry(RULE_A)]}
    )
    assert (result.status, result.messages) == ("Partly cancelled", ["Partly cancelled"])


def test_a_reply_without_an_outcome_is_a_success() -> None:
    result = cancel([RULE_A], {"jobStatus": [job_entry(RULE_A)]})
    assert (result.status, result.messages) == ("Success", [])


def test_the_outcomes_of_several_pages_are_joined_each_once() -> None:
    outcomes = iter(["Some locked", "Some running"])
    result = cancel(
        IDS, lambda r: {"errorMessage": next(outcomes), "jobStatus": [job_entry(r.json["ruleIds"][0])]}
    )
    assert result.status == "Some locked; Some running"


def test_entries_for_unrequested_rules_come_after_the_requested_ones() -> None:
    reply = {
        "errorMessage": "Success",
        "jobStatus": [job_entry(RULE_C), job_entry(RULE_B), job_entry(RULE_A)],
    }
    result = cancel([RULE_A, RULE_B], reply)
    assert [j.rule_id for j in result.job_status] == [RULE_A, RULE_B, RULE_C]


def test_a_job_status_entry_of_the_wrong_shape_is_a_clinical_one_error_naming_the_endpoint() -> None:
    reply = {"errorMessage": "Success", "jobStatus": [job_entry(RULE_A, start="not a date")]}
    with pytest.raises(ClinicalOneAPIError) as info:
        cancel([RULE_A], reply)
    assert type(info.value) is ClinicalOneAPIError
    assert info.value.message.startswith("cancel_rule_jobs: unexpected response shape")


def test_an_unreadable_job_status_body_names_the_endpoint() -> None:
    with pytest.raises(TransientServiceError, match=r"^get_job_status: "):
        drive(get_job_status(STUDY, "test", [RULE_A]), lambda r: make_response(r, 200, content=b"{"))


# --- publish-run replies ------------------------------------------------------------------------


def publish_reply(status: int, body: Any = None, *, content: bytes | None = None) -> Any:
    request = pr._publish_request("/x", [RULE_A, RULE_B], idempotent=False)
    return pr.parse_publish_run(make_response(request, status, body, content=content), [RULE_A, RULE_B])


def test_a_rule_the_service_left_out_gets_a_missing_item_saying_so() -> None:
    results = publish_reply(200, [publish_item(RULE_A)])
    missing = results[1]
    assert (missing.rule_id, missing.job_status, missing.http_error_code) == (
        RULE_B,
        PUBLISH_MISSING_STATUS,
        200,
    )
    assert missing.error is not None
    assert (missing.error.status, missing.error.error_message) == (
        "failed",
        "The service returned no result for this rule.",
    )


def test_an_unreadable_publish_body_names_the_endpoint() -> None:
    with pytest.raises(TransientServiceError, match=r"^update_publish_run: "):
        publish_reply(200, content=b"[")


def test_a_publish_error_envelope_names_the_endpoint() -> None:
    with pytest.raises(ClinicalOneValidationError, match=r"^update_publish_run: "):
        publish_reply(400, ERROR_DOC)


def test_a_publish_reply_that_is_no_item_list_is_an_unexpected_shape_with_its_status() -> None:
    with pytest.raises(ClinicalOneAPIError) as info:
        publish_reply(202, {"unexpected": True})
    assert info.value.message == "update_publish_run: unexpected response shape"
    assert info.value.status_code == 202


def test_a_publish_item_of_the_wrong_shape_is_a_clinical_one_error_naming_the_endpoint() -> None:
    with pytest.raises(ClinicalOneAPIError) as info:
        publish_reply(200, [{"ruleId": RULE_A, "httpErrorCode": "not a number"}])
    assert type(info.value) is ClinicalOneAPIError
    assert info.value.message.startswith("update_publish_run: unexpected response shape")


# --- reconciling a resumed publish --------------------------------------------------------------


def test_a_resumed_ledger_without_an_endpoint_reconciles_through_the_bulk_read_and_records_the_job() -> None:
    job = new_job_id()
    service = Service([], {RULE_A: [job]})
    ledger = PublishLedger(
        study_id=STUDY, mode="test", publish_run="AllData", snapshot={RULE_A: []}, sent=True
    )
    (result,) = publish(service, [RULE_A], ledger=ledger)
    assert [r.endpoint for r in service.requests()] == ["get_job_status"]
    assert result.reconciled
    assert ledger.applied == {RULE_A: f"job {job}"}
