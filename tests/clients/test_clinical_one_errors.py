"""Clinical One error envelopes -> typed exceptions (``clients/clinical_one.py``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinical_rules_provider.clients.clinical_one import (
    envelope_error,
    error_class_for,
    raise_for_error,
)
from clinical_rules_provider.exceptions import (
    AuthenticationError,
    ClinicalOneAPIError,
    ClinicalOneNotFoundError,
    ClinicalOneServerError,
    ClinicalOneValidationError,
    ClinicalRulesError,
    RateLimitedError,
    TransientServiceError,
    VaultAPIError,
    VaultSessionError,
)

# api-docs/clinical-one-filtered-rule-list.txt, 400/500 example (literal).
ERROR_DOC = {
    "status": "failed",
    "result": None,
    "errorCode": "JSON-004",
    "errorMessage": "Invalid UUID list. One or more elements are invalid. Must contain at least one element.",
    "details": "ruleIds must contain at least one value.",
}


def response(status: int, body: Any = None, *, content: bytes | None = None) -> httpx.Response:
    request = httpx.Request("PUT", "https://c1.test/ec-rule-svc/rest/v1.0/studies/S/test/cancelRuleJob")
    if content is not None:
        return httpx.Response(status, content=content, request=request)
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ClinicalOneValidationError),
        (409, ClinicalOneValidationError),
        (422, ClinicalOneValidationError),
        (404, ClinicalOneNotFoundError),
        (500, ClinicalOneServerError),
        (503, ClinicalOneServerError),
        (302, ClinicalOneAPIError),
    ],
)
def test_error_class_for_maps_http_statuses(status: int, cls: type[Exception]) -> None:
    assert error_class_for(status) is cls


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ("VALIDATION_ERROR", ClinicalOneValidationError),
        ("NOT_FOUND", ClinicalOneNotFoundError),
        ("SERVER_ERROR", ClinicalOneServerError),
        ("not_found", ClinicalOneNotFoundError),
    ],
)
def test_rerun_history_status_envelopes_become_typed_errors_with_code_and_detail(
    status: str, cls: type[Exception]
) -> None:
    body = {"status": status, "statusDetail": "Rule execution job not found for the supplied identifier."}
    error = envelope_error(body, 200, "get_rerun_history")
    assert type(error) is cls
    assert error.code == status.upper()
    assert error.message == "get_rerun_history: Rule execution job not found for the supplied identifier."
    assert error.details == "Rule execution job not found for the supplied identifier."
    assert error.status_code == 200


def test_a_status_envelope_without_detail_uses_the_status_as_message() -> None:
    error = envelope_error({"status": "SERVER_ERROR"}, 500, "get_rerun_history")
    assert isinstance(error, ClinicalOneServerError)
    assert error.message == "get_rerun_history: SERVER_ERROR"


def test_a_success_status_envelope_is_not_an_error() -> None:
    assert envelope_error({"status": "SUCCESS", "ruleHistory": []}, 200, "get_rerun_history") is None


@pytest.mark.parametrize(
    ("http_status", "cls"),
    [
        (400, ClinicalOneValidationError),
        (404, ClinicalOneNotFoundError),
        (500, ClinicalOneServerError),
        (200, ClinicalOneAPIError),
    ],
)
def test_the_rule_designer_error_doc_becomes_a_typed_error_with_code_message_and_details(
    http_status: int, cls: type[Exception]
) -> None:
    error = envelope_error(ERROR_DOC, http_status, "list_rules")
    assert type(error) is cls
    assert error.code == "JSON-004"
    assert error.message == f"list_rules: {ERROR_DOC['errorMessage']}"
    assert error.details == ERROR_DOC["details"]
    assert error.status_code == http_status


def test_an_error_doc_without_message_falls_back_to_details() -> None:
    error = envelope_error(
        {"status": "failed", "errorCode": "E-9", "details": "bad offset"}, 400, "list_rules"
    )
    assert error is not None and error.message == "list_rules: bad offset"


def test_a_list_of_error_items_without_rule_ids_uses_the_first_items_error() -> None:
    body = [
        {"ruleId": None, "jobStatus": "Failed", "error": ERROR_DOC},
        {"jobStatus": "Failed", "error": {**ERROR_DOC, "errorCode": "OTHER"}},
    ]
    error = envelope_error(body, 400, "update_publish_run")
    assert isinstance(error, ClinicalOneValidationError)
    assert error.code == "JSON-004"


def test_a_list_of_items_with_rule_ids_is_not_an_envelope() -> None:
    body = [{"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", "jobStatus": "Failed", "error": ERROR_DOC}]
    assert envelope_error(body, 400, "update_publish_run") is None


def test_a_job_status_sentence_on_an_error_status_becomes_the_message() -> None:
    error = envelope_error({"status": "Rule ids are missing", "jobStatus": []}, 400, "cancel_rule_jobs")
    assert isinstance(error, ClinicalOneValidationError)
    assert error.message == "cancel_rule_jobs: Rule ids are missing"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "Success", "jobStatus": []},
        {"status": "Some jobs could not be cancelled", "jobStatus": []},
        [],
        "text",
        None,
    ],
    ids=["success", "sentence-on-200", "empty-list", "string", "none"],
)
def test_non_error_bodies_on_200_are_not_envelopes(body: Any) -> None:
    assert envelope_error(body, 200, "cancel_rule_jobs") is None


def test_raise_for_error_is_quiet_for_a_success_answer() -> None:
    raise_for_error(response(200, {"status": "Success"}), {"status": "Success"}, "cancel_rule_jobs")


def test_raise_for_error_raises_the_envelope_error() -> None:
    with pytest.raises(ClinicalOneValidationError, match="Invalid UUID list") as info:
        raise_for_error(response(400, ERROR_DOC), ERROR_DOC, "list_rules")
    assert info.value.code == "JSON-004"


@pytest.mark.parametrize("status", [401, 403])
def test_raise_for_error_turns_401_and_403_without_envelope_into_authentication_errors(status: int) -> None:
    with pytest.raises(AuthenticationError) as info:
        raise_for_error(response(status, content=b""), None, "list_rules")
    assert info.value.status_code == status


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, ClinicalOneValidationError), (404, ClinicalOneAPIError), (500, ClinicalOneServerError)],
)
def test_raise_for_error_raises_by_http_status_without_an_envelope_and_keeps_a_snippet(
    status: int, cls: type[Exception]
) -> None:
    page = b"<html>" + b"x" * 500 + b"</html>"
    with pytest.raises(cls) as info:
        raise_for_error(response(status, content=page), None, "get_rerun_history")
    assert type(info.value) is cls  # a bare 404 is no NOT_FOUND answer: not ClinicalOneNotFoundError
    assert info.value.status_code == status
    assert info.value.details is not None
    assert info.value.details.startswith("<html>")
    assert len(info.value.details) <= 200


def test_a_success_status_on_an_error_http_status_still_raises() -> None:
    with pytest.raises(ClinicalOneServerError):
        raise_for_error(response(500, {"status": "Success"}), {"status": "Success"}, "cancel_rule_jobs")


@pytest.mark.parametrize(
    "cls",
    [
        ClinicalOneAPIError,
        ClinicalOneValidationError,
        ClinicalOneNotFoundError,
        ClinicalOneServerError,
        AuthenticationError,
        TransientServiceError,
        RateLimitedError,
        VaultAPIError,
        VaultSessionError,
    ],
)
def test_every_service_error_shares_the_provider_base_and_is_never_a_value_error(
    cls: type[Exception],
) -> None:
    assert issubclass(cls, ClinicalRulesError)
    assert not issubclass(cls, ValueError)


def test_provider_error_str_carries_message_code_status_and_details() -> None:
    error = ClinicalOneValidationError("list_rules: bad", code="JSON-004", status_code=400, details="more")
    assert str(error) == "list_rules: bad | code=JSON-004 | http=400 | details=more"


def test_provider_error_str_omits_details_equal_to_the_message() -> None:
    assert str(ClinicalRulesError("same", details="same")) == "same"


def test_rate_limited_error_is_transient_and_keeps_retry_after() -> None:
    error = RateLimitedError("slow down", status_code=429, retry_after=7.0)
    assert isinstance(error, TransientServiceError)
    assert error.retry_after == 7.0
    assert error.status_code == 429


def test_vault_session_error_is_both_a_vault_and_an_authentication_error() -> None:
    assert issubclass(VaultSessionError, VaultAPIError)
    assert issubclass(VaultSessionError, AuthenticationError)
