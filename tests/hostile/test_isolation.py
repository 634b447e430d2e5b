"""Connections are isolated, and process-wide caches stay bounded (issue 13, class 6)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from clinical_rules_provider import _state, job_watch
from clinical_rules_provider.exceptions import AuthenticationError
from clinical_rules_provider.hooks.base import _shared_config
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from clinical_rules_provider.models.clinical_one import RuleJob
from clinical_rules_provider.transport.pool import open_clients
from clinical_rules_provider.transport.session import HttpSession, TransportSettings
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
    assert len(_state.TOKENS) == 1
    assert GOOD_SECRET not in repr(_state.TOKENS.snapshot())


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

    before = open_clients()
    for _ in range(5):
        asyncio.run(use_and_abandon())
    assert open_clients() - before <= 1


async def test_a_cancelled_waiter_does_not_cancel_others_waiting_on_the_same_connection_lookup() -> None:
    release = asyncio.Event()
    fetches = 0

    async def fetch() -> str:
        nonlocal fetches
        fetches += 1
        await release.wait()
        return "config"

    first = asyncio.ensure_future(_shared_config((ClinicalOneHook, "c1"), fetch))
    second = asyncio.ensure_future(_shared_config((ClinicalOneHook, "c1"), fetch))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.wait_for(second, 5) == "config"
    assert first.cancelled() and fetches == 1
    assert await _shared_config((ClinicalOneHook, "c1"), fetch) == "config"  # cached, no new fetch
    assert fetches == 1


def test_the_vault_read_clock_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_state.VAULT_READS, "max_size", 10)
    for job_id in range(1, 51):
        VaultHook._status_wait("https://vault.test", job_id)
    assert len(_state.VAULT_READS) <= 10
    assert ("https://vault.test", 50) in _state.VAULT_READS  # the newest read is kept


def test_the_registry_of_warned_unknown_statuses_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_state.WARNED_STATUSES, "max_size", 8)
    watch = job_watch.RuleJobWatch.create([RULE_A], job_ids=["0" * 31 + "1"])
    for n in range(40):
        job = RuleJob(rule_id=RULE_A, job_id="0" * 31 + "1", job_status=f"Weird{n}" + "x" * 10_000)
        watch.evaluate({RULE_A: [job]})
    assert len(_state.WARNED_STATUSES) <= 8
    assert all(len(status) <= 100 for status in _state.WARNED_STATUSES.snapshot())


def test_no_client_keeps_cookies() -> None:
    client = httpx.Client(**HttpSession(TransportSettings(base_url="https://c.test"))._client_kwargs())
    with client:
        client.cookies.extract_cookies(
            httpx.Response(
                200, headers={"Set-Cookie": "a=b; Path=/"}, request=httpx.Request("GET", "https://c.test/")
            )
        )
        assert not client.cookies


def test_every_process_wide_registry_is_bounded_keeping_the_newest() -> None:
    registry: _state.Registry[str, str] = _state.Registry("test", 3)
    for n in range(10):
        registry.put(f"fingerprint-{n}", f"token-{n}", ttl=600)
    assert len(registry) == 3
    assert registry.get("fingerprint-9") == "token-9"
    assert registry.get("fingerprint-0") is None
    assert all(0 < r.max_size <= 4096 for r in _state._ALL)


def test_expired_entries_are_evicted_before_live_ones() -> None:
    registry: _state.Registry[str, str] = _state.Registry("test", 2)
    registry.put("old-but-live", "a", ttl=600)
    registry.put("expired", "b", ttl=0)
    registry.put("new", "c", ttl=600)
    assert registry.snapshot() == {"old-but-live": "a", "new": "c"}


def test_reset_empties_every_registry() -> None:
    _state.TOKENS.put(("fingerprint",), "token")
    _state.VAULT_READS.put(("https://vault.test", 1), 0.0)
    _state.reset()
    assert not any(len(r) for r in _state._ALL)


async def test_the_shared_connection_lookups_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_state.CONNECTIONS, "max_size", 3)

    async def fetch() -> str:
        return "config"

    for n in range(10):
        assert await _shared_config((ClinicalOneHook, f"conn_{n}"), fetch) == "config"
    assert len(_state.CONNECTIONS) <= 3 and not len(_state.CONNECTION_LOOKUPS)
    assert (ClinicalOneHook, "conn_9") in _state.CONNECTIONS
