"""transport/retry.py: ``Retry-After`` parsing and which replies are transient."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import pytest

from clinical_rules_provider.clients.publish_run import is_item_list
from clinical_rules_provider.exceptions import RateLimitedError, TransientServiceError
from clinical_rules_provider.transport.retry import check_response, retry_after_seconds


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0.5", 0.5), ("-3", None), ("nan", None), ("inf", None), ("soon", None), (None, None)],
)
def test_retry_after_accepts_seconds_and_ignores_negative_and_non_finite_values(
    header: str | None, expected: float | None
) -> None:
    assert retry_after_seconds(header) == expected


def test_retry_after_accepts_an_http_date() -> None:
    seconds = retry_after_seconds(formatdate(time.time() + 30, usegmt=True))
    assert seconds is not None and 25 <= seconds <= 31


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_server_and_gateway_statuses_are_transient(status: int) -> None:
    response = httpx.Response(status, headers={"Retry-After": "2"}, request=httpx.Request("GET", "https://x"))
    with pytest.raises(TransientServiceError) as info:
        check_response(response, "endpoint")
    assert info.value.retry_after == 2.0
    assert isinstance(info.value, RateLimitedError) == (status == 429)


def test_a_500_listing_per_rule_results_is_left_to_the_parser() -> None:
    items = [{"ruleId": "8E2253D8E53A4A46BAE3E4952CBE9E5A", "jobStatus": "Error"}]
    response = httpx.Response(500, json=items, request=httpx.Request("PUT", "https://x"))
    check_response(response, "endpoint", is_item_list)
    with pytest.raises(
        TransientServiceError
    ):  # only the endpoint that says so: the transport knows no shapes
        check_response(response, "endpoint")


@pytest.mark.parametrize("status", [400, 401, 404, 409])
def test_other_statuses_are_left_to_the_parsers(status: int) -> None:
    check_response(httpx.Response(status, request=httpx.Request("GET", "https://x")), "endpoint")


def test_truncated_json_in_a_2xx_is_transient() -> None:
    response = httpx.Response(200, content=b'{"truncated":', request=httpx.Request("GET", "https://x"))
    with pytest.raises(TransientServiceError, match="not valid JSON"):
        check_response(response, "endpoint")
