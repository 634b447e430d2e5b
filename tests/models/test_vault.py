"""Vault models (``clinical_rules_provider.models.vault``), including the cancel reference example."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from clinical_rules_provider.models.enums import VaultJobStatus
from clinical_rules_provider.models.vault import (
    VaultAuthResponse,
    VaultEnvelope,
    VaultError,
    VaultJob,
    VaultJobCancelResult,
    as_error_list,
)

# Copied literally from api-docs/vault-cancel-jobs.txt.
CANCEL_REQUEST_BODY = """[
{
"job_id": 1046892
},
{
"job_id": 1043341
}
]"""

CANCEL_RESPONSE = """{
"responseStatus": "SUCCESS",
"data": [
{
"responseStatus": "SUCCESS",
"data": {
"id": 1068044
}
},
{
"responseStatus": "FAILURE",
"errors": {
"type": "INVALID_DATA",
"message": "Job [1068337] is not found in QUEUED or QUEUEING state"
}
}
]
}"""

SESSION_ID = "3B3C45FD240E26F0C3DB4F13E56F6A4D84E9E0A8A4A6EF2E5BC2C1E8D5A6C6F0D2"


def test_cancel_reference_response_envelope_parses_and_keeps_the_data_list() -> None:
    envelope = VaultEnvelope.model_validate(json.loads(CANCEL_RESPONSE))
    assert envelope.response_status == "SUCCESS"
    assert envelope.errors == []
    assert envelope.model_extra is not None
    assert len(envelope.model_extra["data"]) == 2


def test_cancel_reference_items_parse_into_cancel_results() -> None:
    items = json.loads(CANCEL_RESPONSE)["data"]
    requested = [row["job_id"] for row in json.loads(CANCEL_REQUEST_BODY)]
    assert requested == [1046892, 1043341]
    ok = VaultJobCancelResult(job_id=items[0]["data"]["id"], response_status=items[0]["responseStatus"])
    refused = VaultJobCancelResult(
        job_id=requested[1], response_status=items[1]["responseStatus"], errors=items[1]["errors"]
    )
    assert ok.job_id == 1068044 and ok.cancelled is True and ok.reason is None
    assert refused.cancelled is False
    assert refused.errors == [
        VaultError(type="INVALID_DATA", message="Job [1068337] is not found in QUEUED or QUEUEING state")
    ]
    assert refused.reason == "INVALID_DATA: Job [1068337] is not found in QUEUED or QUEUEING state"


@pytest.mark.parametrize(
    "errors",
    [
        {"type": "INVALID_DATA", "message": "not cancellable"},
        [{"type": "INVALID_DATA", "message": "not cancellable"}],
    ],
    ids=["object", "list"],
)
def test_cancel_result_accepts_errors_as_an_object_or_a_list(errors: object) -> None:
    result = VaultJobCancelResult.model_validate(
        {"job_id": 7, "response_status": "FAILURE", "errors": errors}
    )
    assert result.errors == [VaultError(type="INVALID_DATA", message="not cancellable")]


def test_cancel_result_without_errors_has_an_empty_list() -> None:
    assert (
        VaultJobCancelResult.model_validate(
            {"job_id": 7, "response_status": "SUCCESS", "errors": None}
        ).errors
        == []
    )


def test_cancel_result_reason_joins_several_errors() -> None:
    result = VaultJobCancelResult(
        job_id=7,
        response_status="FAILURE",
        errors=[
            VaultError(type="INVALID_DATA", message="a"),
            VaultError(type="OPERATION_NOT_ALLOWED", message="b"),
        ],
    )
    assert result.reason == "INVALID_DATA: a; OPERATION_NOT_ALLOWED: b"


def test_cancel_result_reason_falls_back_to_the_status_without_errors() -> None:
    assert VaultJobCancelResult(job_id=7, response_status="MISSING").reason == "MISSING"


def test_cancel_result_dumps_json_data() -> None:
    dumped = VaultJobCancelResult(
        job_id=7, response_status="FAILURE", errors={"type": "T", "message": "m"}
    ).model_dump(mode="json")
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped["job_id"] == 7
    assert dumped["errors"] == [{"type": "T", "message": "m"}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ({"type": "X"}, [{"type": "X"}]),
        ([{"type": "X"}, {"type": "Y"}], [{"type": "X"}, {"type": "Y"}]),
    ],
)
def test_as_error_list_always_gives_a_list(value: object, expected: object) -> None:
    assert as_error_list(value) == expected


def test_envelope_reads_failure_errors_given_as_a_single_object() -> None:
    envelope = VaultEnvelope.model_validate(
        {
            "responseStatus": "FAILURE",
            "responseMessage": "nope",
            "errors": {"type": "INVALID_SESSION_ID", "message": "x"},
        }
    )
    assert envelope.response_status == "FAILURE"
    assert envelope.response_message == "nope"
    assert [e.type for e in envelope.errors] == ["INVALID_SESSION_ID"]


def test_envelope_keeps_unknown_error_fields() -> None:
    envelope = VaultEnvelope.model_validate(
        {"responseStatus": "FAILURE", "errors": [{"type": "X", "message": "m", "hint": "h"}]}
    )
    assert envelope.errors[0].model_extra == {"hint": "h"}


# --- auth -------------------------------------------------------------------------------------


def _auth() -> VaultAuthResponse:
    return VaultAuthResponse.model_validate(
        {
            "responseStatus": "SUCCESS",
            "sessionId": SESSION_ID,
            "userId": 12021,
            "vaultIds": [{"id": 1776, "name": "PromoMats", "url": "https://promomats.veevavault.com/api"}],
            "vaultId": 1776,
        }
    )


def test_auth_response_parses_the_session_and_keeps_unknown_fields() -> None:
    auth = _auth()
    assert auth.response_status == "SUCCESS"
    assert auth.session_id is not None
    assert auth.session_id.get_secret_value() == SESSION_ID
    assert auth.user_id == 12021
    assert auth.vault_id == 1776
    assert auth.model_extra is not None and auth.model_extra["vaultIds"][0]["id"] == 1776


def test_auth_response_never_shows_the_session_id() -> None:
    auth = _auth()
    for text in (
        repr(auth),
        str(auth),
        repr(auth.model_dump()),
        json.dumps(auth.model_dump(mode="json")),
        auth.model_dump_json(),
    ):
        assert SESSION_ID not in text
        assert SESSION_ID[:12] not in text


# --- jobs ------------------------------------------------------------------------------------

JOB_STATUS_DATA = {
    "id": 1051303,
    "status": "RUNNING",
    "method": "POST",
    "links": [{"rel": "artifacts", "href": "/api/v26.1/services/jobs/1051303/artifacts", "method": "GET"}],
    "created_by": 44533,
    "created_date": "2016-04-20T18:24:38.000Z",
    "run_start_date": "2016-04-20T18:24:39.000Z",
}


def test_vault_job_parses_a_job_status_data_object() -> None:
    job = VaultJob.model_validate(JOB_STATUS_DATA)
    assert job.job_id == 1051303
    assert job.status is VaultJobStatus.RUNNING
    assert job.method == "POST"
    assert job.created_by == 44533
    assert job.created_date == datetime(2016, 4, 20, 18, 24, 38, tzinfo=timezone.utc)
    assert job.run_start_date == datetime(2016, 4, 20, 18, 24, 39, tzinfo=timezone.utc)
    assert job.run_end_date is None
    assert job.is_terminal is False
    assert job.model_extra is not None and job.model_extra["links"][0]["rel"] == "artifacts"


@pytest.mark.parametrize("key", ["id", "job_id", "jobId"])
def test_vault_job_reads_its_id_under_any_known_name(key: str) -> None:
    assert VaultJob.model_validate({key: 5, "status": "QUEUED"}).job_id == 5


def test_vault_job_naive_dates_are_read_as_utc() -> None:
    job = VaultJob.model_validate({"id": 5, "created_date": "2024-05-01T10:00:00"})
    assert job.created_date == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("SCHEDULED", False),
        ("CANCELLING", False),
        ("SUCCESS", True),
        ("ERRORS_ENCOUNTERED", True),
        ("MISSED_SCHEDULE", True),
    ],
)
def test_vault_job_is_terminal_follows_the_status_semantics(status: str, terminal: bool) -> None:
    assert VaultJob.model_validate({"id": 1, "status": status}).is_terminal is terminal


def test_vault_job_unknown_status_stays_a_string_and_is_not_terminal() -> None:
    job = VaultJob.model_validate({"id": 1, "status": "PAUSED"})
    assert job.status == "PAUSED"
    assert not isinstance(job.status, VaultJobStatus)
    assert job.status_text == "PAUSED"
    assert job.is_terminal is False


def test_vault_job_dumps_json_data() -> None:
    dumped = VaultJob.model_validate(JOB_STATUS_DATA).model_dump(mode="json")
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped["job_id"] == 1051303
    assert dumped["status"] == "RUNNING"
    assert dumped["created_date"].startswith("2016-04-20T18:24:38")
