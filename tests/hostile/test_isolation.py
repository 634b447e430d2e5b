"""Connections are isolated, and process-wide caches stay bounded (issue 13, class 6)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from clinical_rules_provider import job_watch
from clinical_rules_provider.exceptions import AuthenticationError
from clinical_rules_provider.hooks import vault
from clinical_rules_provider.hooks._concurrency import ASYNC_CLIENTS
from clinical_rules_provider.hooks._transport import HttpSession, TransportSettings
from clinical_rules_provider.hooks.auth import TOKEN_CACHE
from clinical_rules_provider.hooks.base import _AsyncConfigCache
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from clinical_rules_provider.models.clinical_one import RuleJob
from tests.conftest import RULE_A, STUDY, ConnFactory

C1 = "https://c1.test"
FILTERED = f"{C1}/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{STUDY}/test/filteredlist"
TOKEN_URL = "https://idcs.test/oauth2/v1/token"
VAULT = "https://vault.test/api/v26.1"
GOOD_SECRET = "client-secret-good-1234"
GOOD_PASSWORD = "vault-password-good-1234"


def _empty_page(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"resultData": []})


def _token_endpoint(request: httpx.Request) -> httpx.Response:
    """Issues a token only to the good client secret (HTTP Basic client authentication)."""
    good = httpx.BasicAuth("airflow", GOOD_SECRET)._auth_header
    if request.headers.get("authorization") != good:
        return httpx.Response(401, json={"error": "invalid_client"})
    return httpx.Response(200, json={"access_token": "issued-token-abcdef", "expires_in": 600})


def _oauth_conn(make_conn: ConnFactory, conn_id: str, secret: str) -> str:
    extra = {"token_url": TOKEN_URL, "client_id": "airflow", "client_secret": secret, "max_retries": 0}
    return make_conn(conn_id, "clinical_one", "c1.test", extra=extra)


@respx.mock
async def test_hooks_on_different_connections_share_no_cookies_in_one_event_loop(
    make_conn: ConnFactory,
) -> None:
    a = make_conn("c1_a", "clinical_one", "c1.test", extra={"token": "static-token-a-1234"})
    b = make_conn("c1_b", "clinical_one", "c1.test", extra={"token": "static-token-b-1234"})
    reply = httpx.Response(
        200, json={"resultData": []}, headers={"Set-Cookie": "JSESSIONID=session-of-a; Path=/"}
    )
    route = respx.post(FILTERED).mock(return_value=reply)
    async with ClinicalOneHook(a) as hook_a, ClinicalOneHook(b) as hook_b:
        assert [r async for r in hook_a.alist_rules(STUDY, "test")] == []
        assert [r async for r in hook_b.alist_rules(STUDY, "test")] == []
    second = route.calls[1].request
    assert second.headers["authorization"] == "Bearer static-token-b-1234"
    assert "cookie" not in second.headers


@respx.mock
def test_a_wrong_client_secret_never_rides_on_another_connections_cached_token(
    make_conn: ConnFactory,
) -> None:
    token = respx.post(TOKEN_URL).mock(side_effect=_token_endpoint)
    respx.post(FILTERED).mock(side_effect=_empty_page)
    good = _oauth_conn(make_conn, "c1_good", GOOD_SECRET)
    wrong = _oauth_conn(make_conn, "c1_wrong", "client-secret-wrong-9876")
    assert list(ClinicalOneHook(good).list_rules(STUDY, "test")) == []
    with pytest.raises(AuthenticationError):
        list(ClinicalOneHook(wrong).list_rules(STUDY, "test"))
    assert token.call_count == 2
    assert GOOD_SECRET not in repr(TOKEN_CACHE._items)


@respx.mock
def test_a_wrong_vault_password_never_rides_on_another_connections_cached_session(
    make_conn: ConnFactory,
) -> None:
    def login(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        if form["password"] != GOOD_PASSWORD:
            failure = {"responseStatus": "FAILURE", "errors": [{"type": "USERNAME_OR_PASSWORD_INCORRECT"}]}
            return httpx.Response(200, json=failure)
        return httpx.Response(200, json={"responseStatus": "SUCCESS", "sessionId": "session-good-1234"})

    auth = respx.post(f"{VAULT}/auth").mock(side_effect=login)
    respx.get(f"{VAULT}/services/jobs/monitors").mock(
        return_value=httpx.Response(200, json={"responseStatus": "SUCCESS", "jobs": []})
    )
    good = make_conn("vault_good", "veeva_vault", "vault.test", login="user", password=GOOD_PASSWORD)
    wrong = make_conn(
        "vault_wrong", "veeva_vault", "vault.test", login="user", password="vault-password-wrong"
    )
    assert list(VaultHook(good).list_job_monitors()) == []
    with pytest.raises(AuthenticationError):
        list(VaultHook(wrong).list_job_monitors())
    assert auth.call_count == 2


def test_pooled_async_clients_of_ended_event_loops_are_dropped() -> None:
    settings = TransportSettings(base_url="https://pool.test")

    async def use_and_abandon() -> None:
        assert HttpSession(settings).aclient is not None  # never closed: its loop just ends

    before = ASYNC_CLIENTS.open_clients()
    for _ in range(5):
        asyncio.run(use_and_abandon())
    assert ASYNC_CLIENTS.open_clients() - before <= 1


async def test_a_cancelled_waiter_does_not_cancel_others_waiting_on_the_same_connection_lookup() -> None:
    cache = _AsyncConfigCache()
    release = asyncio.Event()
    fetches = 0

    async def fetch() -> str:
        nonlocal fetches
        fetches += 1
        await release.wait()
        return "config"

    first = asyncio.ensure_future(cache.get((ClinicalOneHook, "c1"), fetch))
    second = asyncio.ensure_future(cache.get((ClinicalOneHook, "c1"), fetch))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.wait_for(second, 5) == "config"
    assert first.cancelled() and fetches == 1
    assert await cache.get((ClinicalOneHook, "c1"), fetch) == "config"  # cached, no new fetch
    assert fetches == 1


def test_the_vault_read_clock_stays_bounded(vault_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vault, "MAX_READ_CLOCKS", 10, raising=False)
    hook = VaultHook(vault_conn)
    for job_id in range(1, 51):
        hook._status_wait("https://vault.test", job_id)
    assert len(VaultHook._last_read) <= 10
    assert ("https://vault.test", 50) in VaultHook._last_read  # the newest read is kept


def test_the_registry_of_warned_unknown_statuses_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_watch, "MAX_WARNED_STATUSES", 8, raising=False)
    monkeypatch.setattr(job_watch, "_warned_statuses", type(job_watch._warned_statuses)())
    watch = job_watch.RuleJobWatch.create([RULE_A], job_ids=["0" * 31 + "1"])
    for n in range(40):
        job = RuleJob(rule_id=RULE_A, job_id="0" * 31 + "1", job_status=f"Weird{n}" + "x" * 10_000)
        watch.evaluate({RULE_A: [job]})
    assert len(job_watch._warned_statuses) <= 8
    assert all(len(status) <= 100 for status in job_watch._warned_statuses)


def test_no_client_keeps_cookies() -> None:
    client = httpx.Client(**HttpSession(TransportSettings(base_url="https://c.test"))._client_kwargs())
    with client:
        client.cookies.extract_cookies(
            httpx.Response(
                200, headers={"Set-Cookie": "a=b; Path=/"}, request=httpx.Request("GET", "https://c.test/")
            )
        )
        assert not client.cookies


def test_the_token_and_session_caches_stay_bounded_keeping_the_newest() -> None:
    from clinical_rules_provider.hooks.auth import _SecretCache

    cache = _SecretCache(limit=3)
    for n in range(10):
        cache.put((f"fingerprint-{n}",), f"token-{n}", ttl=600)
    assert len(cache) == 3
    assert cache.get(("fingerprint-9",)) == "token-9"
    assert cache.get(("fingerprint-0",)) is None


async def test_the_shared_connection_lookups_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from clinical_rules_provider.hooks import base

    monkeypatch.setattr(base, "MAX_CONFIGS", 3, raising=False)
    cache = _AsyncConfigCache()

    async def fetch() -> str:
        return "config"

    for n in range(10):
        assert await cache.get((ClinicalOneHook, f"conn_{n}"), fetch) == "config"
    assert len(cache._values) <= 3
    assert (ClinicalOneHook, "conn_9") in cache._values
