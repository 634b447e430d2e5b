"""ClinicalOneHook on the wire (respx): auth modes, retries, errors, chunking, paging, hygiene."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider.clients import filtered_list
from clinical_rules_provider.exceptions import (
    AuthenticationError,
    ClinicalOneNotFoundError,
    ClinicalRulesError,
    RateLimitedError,
    TransientServiceError,
)
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from tests.conftest import RULE_A, RULE_B, RULE_C, STUDY, ConnFactory, no_jobs_yet

BASE = "https://c1.test"
PUBLISH = f"{BASE}/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{STUDY}/test/AllData"
FILTER = f"{BASE}/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{STUDY}/test/filteredlist"
CANCEL = f"{BASE}/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/cancelRuleJob"
HISTORY = f"{BASE}/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"
TOKEN_URL = "https://idcs.test/oauth2/v1/token"


def _ok_items(request: httpx.Request) -> httpx.Response:
    ids = json.loads(request.content)["ruleIds"]
    return httpx.Response(
        200, json=[{"ruleId": r, "jobStatus": "Success", "ruleValidationStatus": True} for r in ids]
    )


def _history(status: str = "Running") -> dict[str, object]:
    return {
        "status": "SUCCESS",
        "statusDetail": None,
        "ruleHistory": [
            {
                "ruleId": RULE_A,
                "jobId": "0E2428167F66445BAB544C7CDD884E87",
                "jobStatus": "Success",
                "jobStartDate": "2025-09-07 19:08:07.437",
            },
            {
                "ruleId": RULE_A,
                "jobId": "1E2428167F66445BAB544C7CDD884E87",
                "jobStatus": status,
                "jobStartDate": "2025-09-08 10:00:00.000",
            },
        ],
    }


@respx.mock
def test_basic_auth_sends_credentials_and_uppercase_compact_ids(c1_conn: str) -> None:
    no_jobs_yet()  # the snapshot read before the first send
    route = respx.put(PUBLISH).mock(side_effect=_ok_items)
    results = ClinicalOneHook(c1_conn).update_publish_run(STUDY.lower(), "TEST", "alldata", [RULE_A.lower()])
    request = route.calls.last.request
    assert request.headers["authorization"].startswith("Basic ")
    assert json.loads(request.content) == {"ruleIds": [RULE_A]}
    assert request.headers["content-type"] == "application/json"
    assert [r.rule_id for r in results] == [RULE_A]


@respx.mock
def test_static_bearer_token_is_sent(make_conn: ConnFactory) -> None:
    conn = make_conn("c1_bearer", "clinical_one", "c1.test", extra={"token": "static-token-123"})
    route = respx.get(HISTORY).mock(return_value=httpx.Response(200, json=_history()))
    ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    assert route.calls.last.request.headers["authorization"] == "Bearer static-token-123"


def _oauth_conn(make_conn: ConnFactory, **fields: object) -> str:
    extra = {
        "token_url": TOKEN_URL,
        "client_id": "cid",
        "client_secret": "client-secret-xyz",
        "scope": "t1.ec-designer-svc.all",
    }
    return make_conn("c1_oauth", "clinical_one", "c1.test", extra=extra, **fields)


@respx.mock
def test_oauth2_client_credentials_token_is_cached_across_calls_and_hooks(make_conn: ConnFactory) -> None:
    conn = _oauth_conn(make_conn)
    token = respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "tok-1", "expires_in": 600})
    )
    api = respx.get(HISTORY).mock(return_value=httpx.Response(200, json=_history()))
    ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    assert token.call_count == 1
    form = dict(httpx.QueryParams(token.calls.last.request.content.decode()))
    assert form == {"grant_type": "client_credentials", "scope": "t1.ec-designer-svc.all"}
    assert token.calls.last.request.headers["authorization"].startswith("Basic ")
    assert api.calls.last.request.headers["authorization"] == "Bearer tok-1"


@respx.mock
def test_oauth2_refreshes_the_token_once_on_401(make_conn: ConnFactory) -> None:
    conn = _oauth_conn(make_conn)
    token = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "old", "expires_in": 600}),
            httpx.Response(200, json={"access_token": "new", "expires_in": 600}),
        ]
    )
    api = respx.get(HISTORY).mock(side_effect=[httpx.Response(401), httpx.Response(200, json=_history())])
    ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    assert token.call_count == 2
    assert api.calls.last.request.headers["authorization"] == "Bearer new"


@respx.mock
def test_oauth2_token_refused_again_after_refresh_fails_at_once(make_conn: ConnFactory) -> None:
    conn = _oauth_conn(make_conn)
    tokens = [httpx.Response(200, json={"access_token": f"t{i}", "expires_in": 600}) for i in range(3)]
    token = respx.post(TOKEN_URL).mock(side_effect=tokens)
    api = respx.get(HISTORY).mock(
        side_effect=[httpx.Response(401), httpx.Response(401), httpx.Response(200, json=_history())]
    )
    with pytest.raises(AuthenticationError, match="freshly issued"):
        ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    assert token.call_count == 2  # the first token, one renewal; no new attempt
    assert [c.request.headers["authorization"] for c in api.calls] == ["Bearer t0", "Bearer t1"]


@respx.mock
def test_oauth2_password_grant_used_when_login_is_set(make_conn: ConnFactory) -> None:
    conn = _oauth_conn(make_conn, login="jsmith", password="user-password-1")
    token = respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "t", "expires_in": 600})
    )
    respx.get(HISTORY).mock(return_value=httpx.Response(200, json=_history()))
    ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    form = dict(httpx.QueryParams(token.calls.last.request.content.decode()))
    assert form["grant_type"] == "password" and form["username"] == "jsmith"


@respx.mock
def test_refused_token_raises_authentication_error_without_secret(make_conn: ConnFactory) -> None:
    conn = _oauth_conn(make_conn)
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    with pytest.raises(AuthenticationError) as info:
        ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    assert "invalid_client" in str(info.value)
    assert "client-secret-xyz" not in str(info.value)


@respx.mock
def test_transient_503_is_retried_then_succeeds(c1_conn: str) -> None:
    route = respx.get(HISTORY).mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json=_history())]
    )
    history = ClinicalOneHook(c1_conn).get_rerun_history(STUDY, "test", RULE_A)
    assert route.call_count == 3
    assert history.latest is not None and history.latest.status == "Running"


@respx.mock
def test_retry_after_header_sets_the_wait(c1_conn: str) -> None:
    route = respx.get(HISTORY).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.3"}),
            httpx.Response(200, json=_history()),
        ]
    )
    started = time.monotonic()
    ClinicalOneHook(c1_conn).get_rerun_history(STUDY, "test", RULE_A)
    assert route.call_count == 2
    assert time.monotonic() - started >= 0.3  # the fallback backoff is 1 ms in tests


@respx.mock
def test_persistent_429_raises_rate_limited_after_the_configured_attempts(make_conn: ConnFactory) -> None:
    conn = make_conn("c1_retry", "clinical_one", "c1.test", login="u", password="p", extra={"max_retries": 2})
    route = respx.get(HISTORY).mock(return_value=httpx.Response(429))
    with pytest.raises(RateLimitedError):
        ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    assert route.call_count == 3


@respx.mock
def test_connect_errors_are_retried_and_end_as_transient_service_error(c1_conn: str) -> None:
    route = respx.get(HISTORY).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientServiceError, match="ConnectError"):
        ClinicalOneHook(c1_conn).get_rerun_history(STUDY, "test", RULE_A)
    assert route.call_count == 5


@respx.mock
@pytest.mark.parametrize("status", [400, 404, 409])
def test_client_errors_other_than_429_are_not_retried(c1_conn: str, status: int) -> None:
    no_jobs_yet()  # the snapshot read before the first send
    body = {
        "status": "failed",
        "result": None,
        "errorCode": "JSON-004",
        "errorMessage": "Invalid UUID list.",
        "details": "x",
    }
    route = respx.put(PUBLISH).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(ClinicalRulesError) as info:
        ClinicalOneHook(c1_conn).update_publish_run(STUDY, "test", "AllData", [RULE_A])
    assert route.call_count == 1
    assert info.value.code == "JSON-004" and info.value.status_code == status
    assert not isinstance(info.value, ValueError)


@respx.mock
def test_not_found_history_raises_typed_error_with_detail(c1_conn: str) -> None:
    body = {
        "status": "NOT_FOUND",
        "statusDetail": "Rule execution job not found for the supplied identifier.",
        "ruleHistory": [],
    }
    respx.get(HISTORY).mock(return_value=httpx.Response(404, json=body))
    with pytest.raises(ClinicalOneNotFoundError, match="Rule execution job not found"):
        ClinicalOneHook(c1_conn).get_rerun_history(STUDY, "test", RULE_A)


@respx.mock
def test_publish_run_over_500_ids_is_chunked_in_order_without_duplicates(c1_conn: str) -> None:
    no_jobs_yet()  # the snapshot read before the first send
    route = respx.put(PUBLISH).mock(side_effect=_ok_items)
    ids = [f"{i:032X}" for i in range(1, 1202)]
    results = ClinicalOneHook(c1_conn).update_publish_run(STUDY, "test", "AllData", ids + ids[:10])
    assert [len(json.loads(c.request.content)["ruleIds"]) for c in route.calls] == [500, 500, 201]
    assert [r.rule_id for r in results] == ids


@respx.mock
async def test_async_twin_returns_the_same_results_as_sync(c1_conn: str) -> None:
    no_jobs_yet()  # the snapshot read before the first send
    respx.put(PUBLISH).mock(side_effect=_ok_items)
    hook = ClinicalOneHook(c1_conn)
    ids = [RULE_A, RULE_B, RULE_C]
    sync = await asyncio.to_thread(hook.update_publish_run, STUDY, "test", "AllData", ids)
    asynchronous = await hook.aupdate_publish_run(STUDY, "test", "AllData", ids)
    await hook.aclose()
    assert [r.model_dump() for r in sync] == [r.model_dump() for r in asynchronous]


@respx.mock
def test_cancel_reports_each_rule_and_missing_ones(c1_conn: str) -> None:
    body = {
        "status": "Success",
        "jobStatus": [
            {
                "ruleId": RULE_B,
                "jobId": "91F4E249F44C4C14A372EE30CEA6B7A8",
                "jobStatus": "Failed to cancel job",
                "jobStartDate": "2025-09-07 19:12:08.747",
            },
            {
                "ruleId": RULE_A,
                "jobId": "81F4E249F44C4C14A372EE30CEA6B7A8",
                "jobStatus": "Cancelled",
                "jobStartDate": "2025-09-07 19:12:08.747",
            },
        ],
    }
    respx.put(CANCEL).mock(return_value=httpx.Response(200, json=body))
    result = ClinicalOneHook(c1_conn).cancel_rule_jobs(STUDY, "test", [RULE_A, RULE_B, RULE_C])
    assert [j.rule_id for j in result.job_status] == [RULE_A, RULE_B]
    assert [j.rule_id for j in result.cancelled] == [RULE_A]
    assert [j.status for j in result.not_cancelled] == ["Failed to cancel job"]
    assert result.missing_rule_ids == [RULE_C]


@respx.mock
def test_list_rules_pages_lazily_until_a_short_page(c1_conn: str) -> None:
    rules = [{"ruleId": f"{i:032X}", "ruleName": f"rule {i}"} for i in range(1, 6)]

    def page(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(
            200, json={"resultData": rules[body["offset"] : body["offset"] + body["limit"]]}
        )

    route = respx.post(FILTER).mock(side_effect=page)
    iterator = ClinicalOneHook(c1_conn).list_rules(STUDY, "test", page_size=2, enabled=True)
    assert route.call_count == 0
    assert [r.rule_name for r in iterator] == [f"rule {i}" for i in range(1, 6)]
    assert route.call_count == 3
    assert json.loads(route.calls[0].request.content) == {"ruleEnabled": "1", "offset": 0, "limit": 2}


@respx.mock
def test_list_rules_parses_each_page_on_the_callers_thread(
    c1_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not on the blocking-call loop's thread: its malloc arena kept P5's RSS 3 MiB higher."""
    rules = [{"ruleId": f"{i:032X}"} for i in range(1, 4)]
    respx.post(FILTER).mock(return_value=httpx.Response(200, json={"resultData": rules}))
    threads: list[int] = []
    feed = filtered_list.RulePager.feed

    def recording_feed(self: filtered_list.RulePager, response: httpx.Response) -> Any:
        threads.append(threading.get_ident())
        return feed(self, response)

    monkeypatch.setattr(filtered_list.RulePager, "feed", recording_feed)
    assert len(list(ClinicalOneHook(c1_conn).list_rules(STUDY, "test", page_size=3))) == 3
    assert threads and set(threads) == {threading.get_ident()}


@respx.mock
async def test_alist_rules_stops_when_the_server_ignores_paging(c1_conn: str) -> None:
    rules = [{"ruleId": f"{i:032X}"} for i in range(1, 4)]
    route = respx.post(FILTER).mock(return_value=httpx.Response(200, json={"resultData": rules}))
    hook = ClinicalOneHook(c1_conn)
    seen = [r.rule_id async for r in hook.alist_rules(STUDY, "test", page_size=3)]
    await hook.aclose()
    assert seen == [r["ruleId"] for r in rules]
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.update_publish_run("not-a-study", "test", "AllData", [RULE_A]), "study_id"),
        (lambda h: h.update_publish_run(STUDY, "prod", "AllData", [RULE_A]), "mode"),
        (lambda h: h.update_publish_run(STUDY, "test", "Everything", [RULE_A]), "publish_run"),
        (lambda h: h.update_publish_run(STUDY, "test", "AllData", []), "rule_ids"),
        (lambda h: h.update_publish_run(STUDY, "test", "AllData", RULE_A), "rule_ids"),
        (lambda h: h.cancel_rule_jobs(STUDY, "test", [RULE_A, "../../etc/passwd"]), "rule_ids[1]"),
        (lambda h: h.get_rerun_history(STUDY, "test", f"{RULE_A}/../x"), "rule_id"),
        (lambda h: h.list_rules(STUDY, "test", form_id="xyz"), "form_id"),
        (lambda h: h.list_rules(STUDY, "test", enabled="yes"), "enabled"),
        (lambda h: h.list_rules(STUDY, "test", colour="red"), "colour"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field_before_any_request(
    c1_conn: str, call: object, field: str
) -> None:
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        call(ClinicalOneHook(c1_conn))  # type: ignore[operator]
    assert respx.calls.call_count == 0


@respx.mock
def test_secrets_never_reach_logs_reprs_or_errors(
    make_conn: ConnFactory, caplog: pytest.LogCaptureFixture
) -> None:
    conn = _oauth_conn(make_conn, login="jsmith", password="user-password-1")
    respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "the-access-token", "expires_in": 600})
    )
    respx.get(HISTORY).mock(side_effect=[httpx.Response(503)] + [httpx.Response(500, text="boom")] * 5)
    hook = ClinicalOneHook(conn)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ClinicalRulesError) as info:
        hook.get_rerun_history(STUDY, "test", RULE_A)
    texts = [
        caplog.text,
        str(info.value),
        repr(info.value),
        repr(hook),
        repr(hook.config),
        repr(hook.http),
        repr(hook.config.transport.auth),
    ]
    for secret in ("user-password-1", "client-secret-xyz", "the-access-token"):
        assert all(secret not in text for text in texts), secret


def test_connection_host_scheme_port_and_tls_default(make_conn: ConnFactory) -> None:
    conn = make_conn(
        "c1_port", "clinical_one", "http://127.0.0.1/gateway", port=8765, login="u", password="p"
    )
    config = ClinicalOneHook(conn).config
    assert config.transport.base_url == "http://127.0.0.1:8765/gateway"
    assert config.transport.verify is True
    assert config.auth_kind == "basic"


def test_connection_without_credentials_is_rejected_clearly(make_conn: ConnFactory) -> None:
    conn = make_conn("c1_nocreds", "clinical_one", "c1.test")
    with pytest.raises(ValueError, match="no credentials"):
        _ = ClinicalOneHook(conn).config


@respx.mock
def test_test_connection_lists_one_rule_of_the_default_study(make_conn: ConnFactory) -> None:
    conn = make_conn(
        "c1_tc",
        "clinical_one",
        "c1.test",
        login="u",
        password="p",
        extra={"study_id": STUDY, "study_mode": "test"},
    )
    route = respx.post(FILTER).mock(
        return_value=httpx.Response(200, json={"resultData": [{"ruleId": RULE_A}]})
    )
    ok, message = ClinicalOneHook(conn).test_connection()
    assert ok, message
    assert json.loads(route.calls.last.request.content)["limit"] == 1


@respx.mock
def test_test_connection_reports_failure_without_raising(make_conn: ConnFactory) -> None:
    conn = make_conn(
        "c1_tc2", "clinical_one", "c1.test", login="u", password="pw-secret-77", extra={"study_id": STUDY}
    )
    respx.post(FILTER).mock(return_value=httpx.Response(401))
    ok, message = ClinicalOneHook(conn).test_connection()
    assert not ok and "AuthenticationError" in message and "pw-secret-77" not in message


def test_test_connection_without_study_explains_what_is_missing(c1_conn: str) -> None:
    ok, message = ClinicalOneHook(c1_conn).test_connection()
    assert not ok and "study_id" in message


@respx.mock
async def test_latest_jobs_maps_not_found_and_empty_history_to_no_jobs(c1_conn: str) -> None:
    not_found = {"status": "NOT_FOUND", "statusDetail": "Rule execution job not found", "ruleHistory": []}
    respx.get(HISTORY).mock(return_value=httpx.Response(404, json=not_found))
    respx.get(HISTORY.replace(RULE_A, RULE_B)).mock(
        return_value=httpx.Response(200, json={"status": "SUCCESS", "ruleHistory": []})
    )
    respx.get(HISTORY.replace(RULE_A, RULE_C)).mock(return_value=httpx.Response(200, json=_history()))
    hook = ClinicalOneHook(c1_conn)
    jobs = await hook.alatest_jobs(STUDY, "test", [RULE_A, RULE_B, RULE_C])
    await hook.aclose()
    assert jobs[RULE_A] == [] and jobs[RULE_B] == []
    assert len(jobs[RULE_C]) == 2


@respx.mock
def test_latest_jobs_via_bulk_job_status_keeps_rules_the_service_left_out(c1_conn: str) -> None:
    url = f"{BASE}/ec-rule-svc/rest/v2.0/studies/{STUDY}/test/jobStatus"
    entry = {
        "ruleId": RULE_B,
        "jobId": "91F4E249F44C4C14A372EE30CEA6B7A8",
        "jobStatus": "Running",
        "jobStartDate": "2025-09-07 19:12:08.747",
    }
    route = respx.put(url).mock(
        return_value=httpx.Response(200, json={"status": "Success", "jobStatus": [entry]})
    )
    jobs = ClinicalOneHook(c1_conn).latest_jobs(STUDY, "test", [RULE_A, RULE_B], poll_endpoint="job_status")
    assert route.call_count == 1
    assert jobs[RULE_A] == []
    assert [j.status for j in jobs[RULE_B]] == ["Running"]


def test_latest_jobs_rejects_an_unknown_poll_endpoint(c1_conn: str) -> None:
    with pytest.raises(ValueError, match="poll_endpoint"):
        ClinicalOneHook(c1_conn).latest_jobs(STUDY, "test", [RULE_A], poll_endpoint="guess")


# Each public method with one bad value; the connection does not exist, so a method that read
# it before checking its input would raise Airflow's "connection not defined" instead.
BAD_INPUT: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "update_publish_run": ("publish_run", lambda m: m(STUDY, "test", "SomeData", [RULE_A])),
    "cancel_rule_jobs": ("rule_ids", lambda m: m(STUDY, "test", ["not-a-uuid"])),
    "get_job_status": ("mode", lambda m: m(STUDY, "nope", [RULE_A])),
    "get_rerun_history": ("rule_id", lambda m: m(STUDY, "test", "42")),
    "latest_jobs": ("poll_endpoint", lambda m: m(STUDY, "test", [RULE_A], poll_endpoint="x")),
}


@pytest.mark.parametrize("method", sorted(BAD_INPUT))
def test_sync_and_async_methods_refuse_bad_input_before_reading_the_connection(method: str) -> None:
    field, call = BAD_INPUT[method]
    hook = ClinicalOneHook("no_such_connection")
    with pytest.raises(ValueError, match=field):
        call(getattr(hook, method))
    with pytest.raises(ValueError, match=field):
        asyncio.run(call(getattr(hook, f"a{method}")))
