"""Class 1: time is always bounded (auth requests, trickling servers, triggers, sensors)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from clinical_rules_provider.exceptions import ClinicalRulesError, DeadlineExceededError
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger
from tests.conftest import RULE_A, STUDY
from tests.hostile.conftest import API, HISTORY, TOKEN_PATH, abounded, bounded, rule_trigger
from tests.hostile.server import HostileServer, hang, trickle

HISTORY_BODY = b'{"status": "SUCCESS", "ruleHistory": []}' + b" " * 200

Conn = Callable[..., str]


def test_a_token_endpoint_that_never_answers_times_out_with_the_connection_timeout(
    hostile: HostileServer, c1_oauth: Conn
) -> None:
    hostile.route("POST", TOKEN_PATH, hang())
    conn = c1_oauth(timeout=0.3, deadline=30)
    started = time.monotonic()
    with pytest.raises(ClinicalRulesError):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert time.monotonic() - started < 2


async def test_a_vault_login_that_never_answers_times_out_with_the_connection_timeout(
    hostile: HostileServer, vault: Conn
) -> None:
    hostile.route("POST", f"{API}/auth", hang())
    hook = VaultHook(vault(timeout=0.3, deadline=30))
    with pytest.raises(ClinicalRulesError):
        await abounded(hook.aget_job_status(9))
    await hook.aclose()


def test_a_body_trickled_byte_by_byte_is_cut_at_the_call_deadline(hostile: HostileServer, c1: Conn) -> None:
    hostile.route("GET", HISTORY, trickle(HISTORY_BODY, every=0.02))
    conn = c1(timeout=1, deadline=0.5)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert time.monotonic() - started < 0.5 + 1 + 0.5  # deadline + at most one read timeout


def test_trickled_headers_are_cut_at_the_call_deadline_in_sync_calls(
    hostile: HostileServer, c1: Conn
) -> None:
    hostile.route("GET", HISTORY, trickle(HISTORY_BODY, every=0.02, headers_too=True))
    conn = c1(timeout=1, deadline=0.5)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert time.monotonic() - started < 1


async def test_trickled_headers_are_cut_at_the_call_deadline_in_async_calls(
    hostile: HostileServer, c1: Conn
) -> None:
    hostile.route("GET", HISTORY, trickle(HISTORY_BODY, every=0.02, headers_too=True))
    hook = ClinicalOneHook(c1(timeout=1, deadline=0.5))
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        await abounded(hook.aget_rerun_history(STUDY, "test", RULE_A))
    assert time.monotonic() - started < 1
    await hook.aclose()


async def test_a_trigger_never_overruns_its_end_time_by_more_than_one_request_timeout(
    hostile: HostileServer, c1: Conn
) -> None:
    hostile.route("GET", HISTORY, trickle(HISTORY_BODY, every=0.05, headers_too=True))
    # The connection's own deadline is long: only the trigger's end_time can stop the poll.
    trigger = rule_trigger(c1(timeout=0.5, deadline=600, max_retries=3), runs_for=0.5)
    started = time.monotonic()
    events: list[dict[str, Any]] = await abounded(_collect(trigger), 5)
    assert [e["status"] for e in events] == ["timeout"]
    assert time.monotonic() - started < 0.5 + 0.5 + 0.5


async def _collect(trigger: ClinicalOneRuleJobTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_a_sensor_poke_never_overruns_the_sensor_timeout_by_more_than_one_request_timeout(
    hostile: HostileServer, c1: Conn
) -> None:
    from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

    hostile.route("GET", HISTORY, trickle(HISTORY_BODY, every=0.05))
    sensor = ClinicalOneRuleJobSensor(
        task_id="wait",
        rule_ids=[RULE_A],
        study_id=STUDY,
        study_mode="test",
        started_after="2026-01-01T00:00:00+00:00",
        timeout=0.5,
        clinical_one_conn_id=c1(timeout=0.5, deadline=600),
    )
    started = time.monotonic()
    result = bounded(lambda: sensor.poke({}), 4)  # type: ignore[arg-type]
    assert not result.is_done  # the deadline is transient: the sensor's own timeout then fails it
    assert time.monotonic() - started < 0.5 + 0.5 + 0.5


def test_trickled_headers_through_an_environment_proxy_are_cut_at_the_call_deadline(
    hostile: HostileServer, make_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hostile server acts as the proxy: it receives the absolute URL and trickles its answer.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", hostile.url)
    hostile.route(
        "GET", f"http://c1.proxied.test{HISTORY}", trickle(HISTORY_BODY, every=0.02, headers_too=True)
    )
    conn = make_conn(
        "c1_proxied",
        "clinical_one",
        "http://c1.proxied.test",
        extra={"token": "t", "timeout": 1, "deadline": 0.5},
    )
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert time.monotonic() - started < 1
    assert hostile.count(f"http://c1.proxied.test{HISTORY}") == 1
