"""Fixtures for the hostile-service tests: one loopback server per session, connections to it
with small timeouts, deadlines and caps (so every test takes well under a few seconds), and
guards that fail a test instead of letting old behaviour (a hang, a day-long sleep) stall it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from tests.conftest import RULE_A, STUDY, ConnFactory
from tests.hostile.server import HostileServer, reply

T = TypeVar("T")

API = "/api/v26.1"
HISTORY = f"/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"
TOKEN_PATH = "/oauth2/v1/token"
FAST = {"timeout": 1, "deadline": 3, "max_retries": 0, "max_wait": 5, "max_body_bytes": 1 << 20}


@pytest.fixture(scope="session")
def _server() -> Iterator[HostileServer]:
    server = HostileServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hostile(_server: HostileServer) -> Iterator[HostileServer]:
    """The hostile server with no routes (every path answers 404 until a test scripts it)."""
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture
def c1(make_conn: ConnFactory, hostile: HostileServer) -> Callable[..., str]:
    """``c1(**extra)``: a static-bearer ``clinical_one`` connection to the hostile server."""

    def make(conn_id: str = "c1_hostile", **extra: Any) -> str:
        return make_conn(
            conn_id, "clinical_one", hostile.url, extra={"token": "static-token", **FAST, **extra}
        )

    return make


@pytest.fixture
def c1_oauth(make_conn: ConnFactory, hostile: HostileServer) -> Callable[..., str]:
    """``c1_oauth(**extra)``: an OAuth2 ``clinical_one`` connection whose token URL is the server's."""

    def make(conn_id: str = "c1_hostile_oauth", **extra: Any) -> str:
        oauth = {"token_url": hostile.url + TOKEN_PATH, "client_id": "cid", "client_secret": "oauth-secret-1"}
        return make_conn(conn_id, "clinical_one", hostile.url, extra={**oauth, **FAST, **extra})

    return make


@pytest.fixture
def vault(make_conn: ConnFactory, hostile: HostileServer) -> Callable[..., str]:
    """``vault(**extra)``: a login/password ``veeva_vault`` connection (login answered unless rerouted)."""
    hostile.route("POST", f"{API}/auth", reply(200, {"responseStatus": "SUCCESS", "sessionId": "sess-1"}))

    def make(conn_id: str = "vault_hostile", **extra: Any) -> str:
        return make_conn(
            conn_id,
            "veeva_vault",
            hostile.url,
            login="vault-user",
            password="vault-secret-password",
            extra={**FAST, **extra},
        )

    return make


def rule_trigger(conn_id: str, *, runs_for: float) -> Any:
    """A rule-job trigger on one rule of the hostile server, ending ``runs_for`` s from now."""
    import time

    from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger

    return ClinicalOneRuleJobTrigger(
        study_id=STUDY,
        study_mode="test",
        rule_ids=[RULE_A],
        end_time=time.time() + runs_for,
        started_after="2026-01-01T00:00:00+00:00",
        poll_interval=0.05,
        clinical_one_conn_id=conn_id,
    )


def bounded(call: Callable[[], T], seconds: float = 5.0) -> T:
    """Run ``call`` in a daemon thread; fail the test if it has not returned within ``seconds``.

    Exceptions propagate, so ``pytest.raises(bounded(...))`` works.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds} s (hang)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


async def abounded(coro: Coroutine[Any, Any, T], seconds: float = 5.0) -> T:
    """Await ``coro``; fail the test if it has not finished within ``seconds``."""
    try:
        return await asyncio.wait_for(coro, seconds)
    except asyncio.TimeoutError:
        pytest.fail(f"still running after {seconds} s (hang)")
