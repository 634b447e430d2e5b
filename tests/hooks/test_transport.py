"""The transport: shared async client pool, Retry-After parsing, retry classification."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import pytest
import respx

from clinical_rules_provider.exceptions import RateLimitedError, TransientServiceError
from clinical_rules_provider.hooks._transport import ASYNC_CLIENTS, check_response, retry_after_seconds
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from tests.conftest import RULE_A, STUDY

HISTORY = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"
OK = {"status": "SUCCESS", "ruleHistory": []}


@respx.mock
async def test_hooks_in_one_event_loop_share_one_async_client_per_host(c1_conn: str) -> None:
    respx.get(HISTORY).mock(return_value=httpx.Response(200, json=OK))
    hooks = [ClinicalOneHook(c1_conn) for _ in range(5)]
    for hook in hooks:
        await hook.aget_rerun_history(STUDY, "test", RULE_A)
    clients = {id((await hook.ahttp()).aclient) for hook in hooks}
    assert len(clients) == 1
    assert ASYNC_CLIENTS.open_clients() == 1
    for hook in hooks:
        await hook.aclose()
    assert ASYNC_CLIENTS.open_clients() == 0


@respx.mock
async def test_shared_client_applies_each_hooks_own_credentials(make_conn: object) -> None:
    first = make_conn("c1_one", "clinical_one", "c1.test", extra={"token": "token-one"})  # type: ignore[operator]
    second = make_conn("c1_two", "clinical_one", "c1.test", extra={"token": "token-two"})  # type: ignore[operator]
    route = respx.get(HISTORY).mock(return_value=httpx.Response(200, json=OK))
    one, two = ClinicalOneHook(first), ClinicalOneHook(second)
    await one.aget_rerun_history(STUDY, "test", RULE_A)
    await two.aget_rerun_history(STUDY, "test", RULE_A)
    assert [c.request.headers["authorization"] for c in route.calls] == [
        "Bearer token-one",
        "Bearer token-two",
    ]
    await one.aclose()
    await two.aclose()


@pytest.mark.parametrize(
    ("header", "expected"), [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), (None, None)]
)
def test_retry_after_accepts_seconds(header: str | None, expected: float | None) -> None:
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
    check_response(httpx.Response(500, json=items, request=httpx.Request("PUT", "https://x")), "endpoint")


@pytest.mark.parametrize("status", [400, 401, 404, 409])
def test_other_statuses_are_left_to_the_parsers(status: int) -> None:
    check_response(httpx.Response(status, request=httpx.Request("GET", "https://x")), "endpoint")


def test_truncated_json_in_a_2xx_is_transient() -> None:
    response = httpx.Response(200, content=b'{"truncated":', request=httpx.Request("GET", "https://x"))
    with pytest.raises(TransientServiceError, match="not valid JSON"):
        check_response(response, "endpoint")


@respx.mock
async def test_requests_in_flight_never_exceed_the_hooks_concurrency_cap(make_conn: object) -> None:
    import asyncio

    conn = make_conn(
        "c1_cap", "clinical_one", "c1.test", login="u", password="p", extra={"max_concurrency": 3}
    )  # type: ignore[operator]
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return httpx.Response(200, json=OK)

    respx.get(url__regex=r".*/rerunhistory/.*").mock(side_effect=slow)
    hook = ClinicalOneHook(conn)
    jobs = await hook.alatest_jobs(STUDY, "test", [f"{i:032X}" for i in range(1, 21)])
    await hook.aclose()
    assert len(jobs) == 20
    assert peak == 3
