"""The exchange protocol and reply reading shared by every endpoint (``clients/base.py``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from clinical_rules_provider.clients.base import (
    ApiRequest,
    Delay,
    after_delay,
    decode_json,
    parse_model,
    reply_for,
    send_all,
    send_one,
)
from clinical_rules_provider.exceptions import (
    ClinicalOneAPIError,
    ClinicalRulesError,
    TransientServiceError,
    UnexpectedResponseError,
)

REQUEST = ApiRequest("get_thing", "GET", "/thing")


def finish(exchange: Any, reply: Any) -> Any:
    with pytest.raises(StopIteration) as stop:
        exchange.send(reply)
    return stop.value.value


# --- send_all / send_one ----------------------------------------------------------------------


def test_send_all_yields_the_batch_and_returns_the_replies_in_order() -> None:
    other = ApiRequest("get_other", "GET", "/other")
    exchange = send_all([REQUEST, other])
    assert exchange.send(None) == [REQUEST, other]
    assert finish(exchange, ["a", "b"]) == ["a", "b"]


@pytest.mark.parametrize("replies", [None, [], ["a", "b"]], ids=["none", "too-few", "too-many"])
def test_a_driver_answering_with_the_wrong_number_of_replies_is_a_runtime_error(replies: Any) -> None:
    exchange = send_one(REQUEST)
    exchange.send(None)
    with pytest.raises(
        RuntimeError, match=r"^exchange driver answered a batch with the wrong number of responses$"
    ):
        exchange.send(replies)


def test_send_one_returns_the_single_reply() -> None:
    exchange = send_one(REQUEST)
    assert exchange.send(None) == [REQUEST]
    assert finish(exchange, ["only"]) == "only"


# --- after_delay ------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.5, 1.0, 2.5])
def test_after_delay_asks_for_any_positive_wait_first(seconds: float) -> None:
    exchange = after_delay(seconds, send_one(REQUEST))
    assert exchange.send(None) == Delay(seconds)
    assert exchange.send(None) == [REQUEST]
    assert finish(exchange, ["done"]) == "done"


@pytest.mark.parametrize("seconds", [0, -1.0])
def test_after_delay_without_a_positive_wait_sends_at_once(seconds: float) -> None:
    assert after_delay(seconds, send_one(REQUEST)).send(None) == [REQUEST]


# --- reply_for --------------------------------------------------------------------------------


def test_a_request_without_a_parser_gets_the_raw_response() -> None:
    response = httpx.Response(200, json={"a": 1})
    assert reply_for(REQUEST, response) is response


def test_a_parser_error_becomes_an_unexpected_response_naming_the_endpoint_and_the_error() -> None:
    def parse(response: httpx.Response) -> Any:
        return response.json()["missing"]

    request = ApiRequest("get_thing", "GET", "/thing", parse=parse)
    with pytest.raises(UnexpectedResponseError) as info:
        reply_for(request, httpx.Response(200, json={}))
    assert info.value.message == "get_thing: the reply could not be read (KeyError: 'missing')"


def test_a_provider_error_of_the_parser_passes_through() -> None:
    error = ClinicalOneAPIError("get_thing: refused")

    def parse(response: httpx.Response) -> Any:
        raise error

    with pytest.raises(ClinicalOneAPIError) as info:
        reply_for(ApiRequest("get_thing", "GET", "/thing", parse=parse), httpx.Response(200))
    assert info.value is error


# --- decode_json ------------------------------------------------------------------------------


def test_an_empty_error_body_decodes_to_none() -> None:
    assert decode_json(httpx.Response(500, content=b""), "get_thing") is None


def test_an_unparsable_error_body_decodes_to_none() -> None:
    assert decode_json(httpx.Response(502, content=b"<html>bad gateway</html>"), "get_thing") is None


def test_an_empty_success_body_is_a_transient_error() -> None:
    with pytest.raises(TransientServiceError) as info:
        decode_json(httpx.Response(200, content=b""), "get_thing")
    assert (
        info.value.message
        == "get_thing: the service returned a body that is not valid JSON (HTTP 200, 0 bytes)"
    )
    assert info.value.status_code == 200


def test_json_nested_too_deeply_is_an_unexpected_response_saying_so() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(UnexpectedResponseError) as info:
        decode_json(httpx.Response(200, content=body), "get_thing")
    assert info.value.message == (
        f"get_thing: the reply's JSON is nested too deeply to read (HTTP 200, {len(body)} bytes)"
    )
    assert info.value.status_code == 200


def test_a_decoded_error_body_is_remembered_too() -> None:
    response = httpx.Response(400, json={"error": "x"})
    first = decode_json(response, "get_thing")
    assert first == {"error": "x"}
    assert decode_json(response, "get_thing") is first


# --- parse_model ------------------------------------------------------------------------------


class Thing(BaseModel):
    a: int
    b: int
    c: int
    d: int


def test_a_shape_the_model_rejects_is_the_given_provider_error_naming_three_problems() -> None:
    with pytest.raises(ClinicalOneAPIError) as info:
        parse_model(Thing, {"a": "x", "b": "y", "c": "z", "d": "w"}, "get_thing", error=ClinicalOneAPIError)
    message = info.value.message
    assert message.startswith("get_thing: unexpected response shape (a: ")
    assert "; b: " in message and "; c: " in message and "d: " not in message
    assert message.endswith(")")


def test_a_shape_error_is_a_plain_provider_error_by_default() -> None:
    with pytest.raises(ClinicalRulesError) as info:
        parse_model(Thing, {}, "get_thing")
    assert type(info.value) is ClinicalRulesError


def test_parse_model_passes_the_context_to_the_validators() -> None:
    from clinical_rules_provider.models.clinical_one import RuleJob

    job = parse_model(
        RuleJob,
        {"jobStartDate": "2025-01-01 10:00:00.000"},
        "x",
        context={"service_timezone": "Asia/Kolkata"},
    )
    assert job.job_start_date is not None and job.job_start_date.utcoffset() is not None
    assert job.job_start_date.utcoffset().total_seconds() == 5.5 * 3600  # type: ignore[union-attr]


class Outer(BaseModel):
    inner: Thing


def test_a_nested_shape_problem_is_named_by_its_dotted_path() -> None:
    with pytest.raises(ClinicalRulesError, match=r"\(inner\.a: "):
        parse_model(Outer, {"inner": {"a": "x", "b": 1, "c": 1, "d": 1}}, "get_thing")
