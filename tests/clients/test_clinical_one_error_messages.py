"""What Clinical One error envelopes and bare HTTP errors say (``clients/clinical_one.py``):
the exact message, code and details a caller sees."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinical_rules_provider.clients.clinical_one import envelope_error, raise_for_error
from clinical_rules_provider.exceptions import (
    AuthenticationError,
    ClinicalOneAPIError,
    ClinicalOneServerError,
    ClinicalRulesError,
)


def raised(status: int, body: Any = None, *, content: bytes | None = None) -> ClinicalRulesError:
    request = httpx.Request("PUT", "https://c1.test/x")
    response = (
        httpx.Response(status, content=content, request=request)
        if content is not None
        else httpx.Response(status, json=body, request=request)
    )
    with pytest.raises(ClinicalRulesError) as info:
        raise_for_error(response, body, "update_publish_run")
    return info.value


def test_refused_credentials_with_an_envelope_say_what_the_service_said_and_keep_its_code() -> None:
    error = raised(401, {"errorMessage": "token expired: sign in again", "errorCode": "AUTH-1"})
    assert type(error) is AuthenticationError
    assert error.message == (
        "update_publish_run: the service refused the credentials (HTTP 401): token expired: sign in again"
    )
    assert (error.code, error.status_code) == ("AUTH-1", 401)


def test_refused_credentials_without_an_envelope_say_only_the_http_status() -> None:
    error = raised(403, content=b"<html>Forbidden</html>")
    assert type(error) is AuthenticationError
    assert error.message == "update_publish_run: the service refused the credentials (HTTP 403)"
    assert error.code is None


def test_a_list_of_error_items_names_the_endpoint() -> None:
    error = envelope_error([{"error": {"errorMessage": "bad", "errorCode": "E"}}], 400, "update_publish_run")
    assert error is not None and error.message == "update_publish_run: bad"


def test_an_error_code_alone_makes_an_envelope_even_on_http_200() -> None:
    error = envelope_error({"errorCode": "E-7"}, 200, "update_publish_run")
    assert error is not None
    assert (type(error), error.code, error.message) == (
        ClinicalOneAPIError,
        "E-7",
        "update_publish_run: request failed",
    )


def test_a_bare_404_says_it_is_not_a_not_found_answer() -> None:
    error = raised(404, content=b"<html>Not Found</html>")
    assert type(error) is ClinicalOneAPIError
    assert error.message == (
        "update_publish_run: HTTP 404 without a recognised error envelope (not a NOT_FOUND answer: a wrong "
        "path, a gateway or a proxy page?)"
    )


def test_another_bare_http_error_keeps_its_body_on_one_line_as_details() -> None:
    error = raised(502, content=b"bad\ngateway\n")
    assert type(error) is ClinicalOneServerError
    assert error.message == "update_publish_run: HTTP 502 without a recognised error envelope"
    assert error.details == "bad gateway"


@pytest.mark.parametrize(("length", "kept"), [(200, "x" * 200), (201, "x" * 197 + "...")], ids=["200", "201"])
def test_the_details_of_a_bare_error_are_cut_after_200_characters(length: int, kept: str) -> None:
    assert raised(500, content=b"x" * length).details == kept


def test_refused_credentials_keep_the_services_text_as_it_is() -> None:
    error = raised(401, {"errorMessage": "  padded text"})
    assert error.message.endswith("(HTTP 401):   padded text")


def test_a_failed_status_alone_makes_an_envelope_even_on_http_200() -> None:
    error = envelope_error({"status": "failed"}, 200, "update_publish_run")
    assert error is not None and error.message == "update_publish_run: request failed"


def test_a_success_status_in_any_case_is_no_envelope_on_an_error_status() -> None:
    assert envelope_error({"status": "Success"}, 400, "update_publish_run") is None
