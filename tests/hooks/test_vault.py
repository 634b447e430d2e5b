"""VaultHook on the wire (respx): session login/renewal, per-item cancel, throttling, hygiene."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider.exceptions import AuthenticationError, VaultAPIError
from clinical_rules_provider.hooks.vault import VaultHook
from clinical_rules_provider.transport import blocking
from tests.conftest import ConnFactory

BASE = "https://vault.test/api/v26.1"
AUTH = f"{BASE}/auth"
CANCEL = f"{BASE}/services/jobs/actions/cancel"
MONITORS = f"{BASE}/services/jobs/monitors"
INVALID_SESSION = {
    "responseStatus": "FAILURE",
    "errors": [{"type": "INVALID_SESSION_ID", "message": "Invalid or expired session ID."}],
}


def _login(session: str = "session-abc") -> httpx.Response:
    return httpx.Response(200, json={"responseStatus": "SUCCESS", "sessionId": session, "userId": 1})


def _job(job_id: int, status: str = "RUNNING") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "responseStatus": "SUCCESS",
            "data": {"id": job_id, "status": status, "created_date": "2026-11-27T10:00:00.000Z"},
        },
    )


@respx.mock
def test_login_then_session_id_is_the_authorization_header(vault_conn: str) -> None:
    auth = respx.post(AUTH).mock(return_value=_login())
    job = respx.get(f"{BASE}/services/jobs/7").mock(return_value=_job(7))
    result = VaultHook(vault_conn).get_job_status("7")
    form = dict(httpx.QueryParams(auth.calls.last.request.content.decode()))
    assert form == {"username": "vault-user", "password": "vault-secret-password"}
    assert job.calls.last.request.headers["authorization"] == "session-abc"
    assert job.calls.last.request.headers["x-vaultapi-clientid"] == "acme-airflow"
    assert result.job_id == 7 and result.status_text == "RUNNING"
    assert result.created_date is not None and result.created_date.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@respx.mock
def test_session_is_reused_by_later_hooks(vault_conn: str) -> None:
    auth = respx.post(AUTH).mock(return_value=_login())
    respx.get(MONITORS).mock(return_value=httpx.Response(200, json={"responseStatus": "SUCCESS", "data": []}))
    list(VaultHook(vault_conn).list_job_monitors())
    list(VaultHook(vault_conn).list_job_monitors())
    assert auth.call_count == 1


@respx.mock
def test_invalid_session_triggers_exactly_one_relogin(vault_conn: str) -> None:
    auth = respx.post(AUTH).mock(side_effect=[_login("s1"), _login("s2")])
    job = respx.get(f"{BASE}/services/jobs/8").mock(
        side_effect=[httpx.Response(200, json=INVALID_SESSION), _job(8)]
    )
    VaultHook(vault_conn).get_job_status(8)
    assert auth.call_count == 2
    assert [c.request.headers["authorization"] for c in job.calls] == ["s1", "s2"]


@respx.mock
def test_a_fresh_session_refused_again_fails_at_once_with_authentication_error(
    make_conn: ConnFactory,
) -> None:
    conn = make_conn(
        "vault_retry", "veeva_vault", "vault.test", login="u", password="p", extra={"max_retries": 3}
    )
    auth = respx.post(AUTH).mock(side_effect=[_login(f"s{i}") for i in range(4)])
    job = respx.get(f"{BASE}/services/jobs/9").mock(return_value=httpx.Response(200, json=INVALID_SESSION))
    with pytest.raises(AuthenticationError, match="fresh session"):
        VaultHook(conn).get_job_status(9)
    assert auth.call_count == 2  # login, one renewal: no retry of the whole attempt
    assert job.call_count == 2


@respx.mock
def test_static_session_id_skips_login(make_conn: ConnFactory) -> None:
    conn = make_conn("vault_static", "veeva_vault", "vault.test", extra={"session_id": "static-session-1"})
    auth = respx.post(AUTH).mock(return_value=_login())
    job = respx.get(f"{BASE}/services/jobs/3").mock(return_value=_job(3))
    VaultHook(conn).get_job_status(3)
    assert auth.call_count == 0
    assert job.calls.last.request.headers["authorization"] == "static-session-1"


@respx.mock
def test_refused_login_raises_authentication_error_without_password(vault_conn: str) -> None:
    body = {
        "responseStatus": "FAILURE",
        "errors": [{"type": "USERNAME_OR_PASSWORD_INCORRECT", "message": "Authentication failed"}],
    }
    respx.post(AUTH).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(AuthenticationError, match="USERNAME_OR_PASSWORD_INCORRECT") as info:
        VaultHook(vault_conn).get_job_status(1)
    assert "vault-secret-password" not in str(info.value)


@respx.mock
def test_cancel_sends_json_array_and_reports_each_job(vault_conn: str) -> None:
    respx.post(AUTH).mock(return_value=_login())
    body = {
        "responseStatus": "SUCCESS",
        "data": [
            {"responseStatus": "SUCCESS", "data": {"id": 1046892}},
            {
                "responseStatus": "FAILURE",
                "errors": {
                    "type": "INVALID_DATA",
                    "message": "Job [1043341] is not found in QUEUED or QUEUEING state",
                },
            },
        ],
    }
    route = respx.post(CANCEL).mock(return_value=httpx.Response(200, json=body))
    results = VaultHook(vault_conn).cancel_jobs([1046892, "1043341", 1046892])
    request = route.calls.last.request
    assert json.loads(request.content) == [{"job_id": 1046892}, {"job_id": 1043341}]
    assert request.headers["content-type"] == "application/json"
    assert [(r.job_id, r.cancelled) for r in results] == [(1046892, True), (1043341, False)]
    assert "not found in QUEUED" in (results[1].reason or "")


@respx.mock
def test_cancel_over_500_jobs_is_split_into_chunks(vault_conn: str) -> None:
    respx.post(AUTH).mock(return_value=_login())

    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "responseStatus": "SUCCESS",
                "data": [{"responseStatus": "SUCCESS", "data": {"id": i["job_id"]}} for i in items],
            },
        )

    route = respx.post(CANCEL).mock(side_effect=answer)
    results = VaultHook(vault_conn).cancel_jobs(range(1, 1002))
    assert [len(json.loads(c.request.content)) for c in route.calls] == [500, 500, 1]
    assert [r.job_id for r in results] == list(range(1, 1002))


@respx.mock
def test_api_limit_exceeded_in_a_200_is_retried(vault_conn: str) -> None:
    respx.post(AUTH).mock(return_value=_login())
    limited = {
        "responseStatus": "FAILURE",
        "errors": [{"type": "API_LIMIT_EXCEEDED", "message": "slow down"}],
    }
    route = respx.get(f"{BASE}/services/jobs/4").mock(
        side_effect=[httpx.Response(200, json=limited, headers={"X-VaultAPI-ResponseDelay": "10"}), _job(4)]
    )
    assert VaultHook(vault_conn).get_job_status(4).job_id == 4
    assert route.call_count == 2


@respx.mock
def test_failure_envelope_raises_vault_api_error_with_type(vault_conn: str) -> None:
    respx.post(AUTH).mock(return_value=_login())
    body = {"responseStatus": "FAILURE", "errors": [{"type": "INVALID_DATA", "message": "Job [5] not found"}]}
    respx.get(f"{BASE}/services/jobs/5").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(VaultAPIError) as info:
        VaultHook(vault_conn).get_job_status(5)
    assert info.value.code == "INVALID_DATA" and "Job [5] not found" in str(info.value)


def _record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses sync calls take (recorded, not slept); other event loops (a test server's)
    sleep as usual."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float, *args: Any) -> Any:
        if seconds and blocking.owns(asyncio.get_running_loop()):
            slept.append(seconds)
            return None
        return await real_sleep(seconds, *args)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return slept


@respx.mock
def test_low_burst_limit_remaining_slows_down(vault_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _record_sleeps(monkeypatch)
    respx.post(AUTH).mock(return_value=_login())
    respx.get(MONITORS).mock(
        return_value=httpx.Response(
            200,
            json={"responseStatus": "SUCCESS", "data": []},
            headers={"x-vaultapi-burstlimitremaining": "3", "X-VaultAPI-ResponseDelay": "250"},
        )
    )
    list(VaultHook(vault_conn).list_job_monitors())
    assert slept == [1.0]


@respx.mock
def test_second_status_read_of_a_job_within_10_seconds_waits(
    vault_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept = _record_sleeps(monkeypatch)
    respx.post(AUTH).mock(return_value=_login())
    respx.get(f"{BASE}/services/jobs/6").mock(return_value=_job(6))
    hook = VaultHook(vault_conn)
    hook.get_job_status(6)
    hook.get_job_status(6)
    assert len(slept) == 1 and 9.0 < slept[0] <= 10.0


@respx.mock
def test_monitors_page_each_status_in_its_own_walk_with_limit_and_offset(vault_conn: str) -> None:
    # Vault's reference documents one value for the ``status`` filter: one walk per status.
    respx.post(AUTH).mock(return_value=_login())
    rows = {
        "queued": [
            {"job_id": i, "status": "QUEUED", "created_date": "2026-11-27T07:00:00.000Z"} for i in (1, 2, 3)
        ],
        "scheduled": [{"job_id": 4, "status": "SCHEDULED", "created_date": "2026-11-27T07:00:00.000Z"}],
    }

    def page(request: httpx.Request) -> httpx.Response:
        status = request.url.params["status"]
        if "," in status:
            failure = {"type": "INVALID_DATA", "message": f"Invalid value [{status}] for [status]."}
            return httpx.Response(200, json={"responseStatus": "FAILURE", "errors": [failure]})
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        mine = rows[status]
        details = {"total": len(mine)}
        return httpx.Response(
            200,
            json={
                "responseStatus": "SUCCESS",
                "responseDetails": details,
                "data": mine[offset : offset + limit],
            },
        )

    route = respx.get(MONITORS).mock(side_effect=page)
    jobs = list(VaultHook(vault_conn).list_job_monitors(statuses=["queued", "SCHEDULED"], page_size=2))
    assert [j.job_id for j in jobs] == [1, 2, 3, 4]
    sent = [(c.request.url.params["status"], int(c.request.url.params["offset"])) for c in route.calls]
    assert sent == [("queued", 0), ("queued", 2), ("scheduled", 0)]


@pytest.mark.parametrize("job_ids", [[0], [-3], ["12a"], [True], [1.5], "123", []])
def test_bad_job_ids_raise_value_error_before_any_request(vault_conn: str, job_ids: object) -> None:
    with respx.mock:
        with pytest.raises(ValueError, match="job_ids"):
            VaultHook(vault_conn).cancel_jobs(job_ids)
        assert respx.calls.call_count == 0


def test_sync_and_async_cancel_refuse_bad_job_ids_before_reading_the_connection() -> None:
    hook = VaultHook("no_such_connection")
    with pytest.raises(ValueError, match="job_ids"):
        hook.cancel_jobs(["12a"])
    with pytest.raises(ValueError, match="job_ids"):
        asyncio.run(hook.acancel_jobs(["12a"]))


def test_bad_api_version_is_rejected(make_conn: ConnFactory) -> None:
    conn = make_conn(
        "vault_badv", "veeva_vault", "vault.test", login="u", password="p", extra={"api_version": "../v1"}
    )
    with pytest.raises(ValueError, match="api_version"):
        _ = VaultHook(conn).config


@respx.mock
def test_secrets_stay_out_of_logs_and_reprs(vault_conn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    respx.post(AUTH).mock(return_value=_login("session-secret-999"))
    respx.get(f"{BASE}/services/jobs/2").mock(side_effect=[httpx.Response(503), _job(2)])
    hook = VaultHook(vault_conn)
    hook.get_job_status(2)
    texts = [caplog.text, repr(hook), repr(hook.config), repr(hook.config.transport.auth), repr(hook.http)]
    for secret in ("vault-secret-password", "session-secret-999"):
        assert all(secret not in t for t in texts)


@respx.mock
def test_test_connection_logs_in_and_lists_monitors(vault_conn: str) -> None:
    respx.post(AUTH).mock(return_value=_login())
    respx.get(MONITORS).mock(
        return_value=httpx.Response(
            200, json={"responseStatus": "SUCCESS", "data": [{"job_id": 5, "status": "RUNNING"}]}
        )
    )
    ok, message = VaultHook(vault_conn).test_connection()
    assert ok and "v26.1" in message


def test_burst_limit_headers_are_read_case_insensitively_with_the_delay_in_ms() -> None:
    from clinical_rules_provider.hooks.vault import burst_throttle

    response = httpx.Response(
        200, headers={"x-vaultapi-burstlimitremaining": "5", "X-VAULTAPI-RESPONSEDELAY": "2500ms"}
    )
    assert burst_throttle(10)(response) == 2.5
    assert burst_throttle(4)(response) == 0.0


# --- the connection's user (scope of the stale canceller) ------------------------------------

ME = f"{BASE}/objects/users/me"
# Vault's "Validate Session User" reply (shortened).
USERS_ME = {
    "responseStatus": "SUCCESS",
    "users": [{"user": {"id": 61603, "user_name__v": "tibanez@veepharm.com"}}],
}


@respx.mock
def test_current_user_id_is_the_user_id_of_the_login_reply(vault_conn: str) -> None:
    respx.post(AUTH).mock(return_value=_login())
    respx.get(MONITORS).mock(return_value=httpx.Response(200, json={"responseStatus": "SUCCESS", "jobs": []}))
    me = respx.get(ME).mock(return_value=httpx.Response(200, json=USERS_ME))
    hook = VaultHook(vault_conn)
    list(hook.list_job_monitors())
    assert hook.current_user_id() == "1"
    assert me.call_count == 0


@respx.mock
def test_current_user_id_of_a_session_id_connection_asks_users_me(make_conn: ConnFactory) -> None:
    conn = make_conn("vault_session", "veeva_vault", "vault.test", extra={"session_id": "static-session"})
    me = respx.get(ME).mock(return_value=httpx.Response(200, json=USERS_ME))
    assert VaultHook(conn).current_user_id() == "61603"
    assert me.calls.last.request.headers["authorization"] == "static-session"


@respx.mock
def test_current_user_id_of_a_cached_session_asks_users_me(vault_conn: str) -> None:
    auth = respx.post(AUTH).mock(return_value=_login())
    respx.get(MONITORS).mock(return_value=httpx.Response(200, json={"responseStatus": "SUCCESS", "jobs": []}))
    respx.get(ME).mock(return_value=httpx.Response(200, json=USERS_ME))
    list(VaultHook(vault_conn).list_job_monitors())  # logs in; the session is cached
    assert VaultHook(vault_conn).current_user_id() == "61603"
    assert auth.call_count == 1


@respx.mock
async def test_acurrent_user_id_asks_users_me_without_a_login(make_conn: ConnFactory) -> None:
    conn = make_conn(
        "vault_session_async", "veeva_vault", "vault.test", extra={"session_id": "static-session"}
    )
    respx.get(ME).mock(return_value=httpx.Response(200, json=USERS_ME))
    hook = VaultHook(conn)
    try:
        assert await hook.acurrent_user_id() == "61603"
    finally:
        await hook.aclose()


@respx.mock
def test_current_user_id_without_an_id_in_the_reply_raises_a_provider_error(make_conn: ConnFactory) -> None:
    conn = make_conn("vault_session_bad", "veeva_vault", "vault.test", extra={"session_id": "static-session"})
    respx.get(ME).mock(return_value=httpx.Response(200, json={"responseStatus": "SUCCESS", "users": []}))
    with pytest.raises(VaultAPIError, match=r"users\[0\]\.user\.id"):
        VaultHook(conn).current_user_id()
