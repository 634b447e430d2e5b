"""Class 5: whatever a service sends, callers see a ClinicalRulesError (never a raw builtin,
pydantic or httpx error); refused renewed credentials fail fast in hooks, sensors and triggers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from clinical_rules_provider.exceptions import AuthenticationError, ClinicalRulesError
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger
from tests.conftest import RULE_A, STUDY
from tests.hostile.conftest import API, HISTORY, TOKEN_PATH, abounded, bounded, rule_trigger
from tests.hostile.server import HostileServer, reply

Conn = Callable[..., str]
JOB = "0E2428167F66445BAB544C7CDD884E87"


def _history_with(**job: Any) -> dict[str, Any]:
    entry = {
        "ruleId": RULE_A,
        "jobId": JOB,
        "jobStatus": "Success",
        "jobStartDate": "2026-11-27 10:00:00.000",
    }
    return {"status": "SUCCESS", "ruleHistory": [{**entry, **job}]}


@pytest.mark.parametrize("start", ["now", -1, "-1", 0, 1.5, "1764237600", "2026"])
def test_a_job_start_date_that_is_not_a_timestamp_is_a_provider_error(
    hostile: HostileServer, c1: Conn, start: Any
) -> None:
    # Numbers and numeric strings are no dates: pydantic would read them as Unix times (1969).
    hostile.route("GET", HISTORY, reply(200, _history_with(jobStartDate=start)))
    conn = c1()
    with pytest.raises(ClinicalRulesError, match=r"job_start_date|jobStartDate"):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))


@pytest.mark.parametrize("data", [5, True])
async def test_wrong_types_in_a_vault_monitor_page_are_provider_errors(
    hostile: HostileServer, vault: Conn, data: Any
) -> None:
    page = {"responseStatus": "SUCCESS", "responseDetails": data, "data": data}
    hostile.route("GET", f"{API}/services/jobs/monitors", reply(200, page))
    hook = VaultHook(vault())
    with pytest.raises(ClinicalRulesError):
        await abounded(_drain(hook.alist_job_monitors()))
    await hook.aclose()


async def _drain(jobs: AsyncIterator[Any]) -> list[Any]:
    return [job async for job in jobs]


def test_an_oversized_expires_in_is_not_an_overflow_error(hostile: HostileServer, c1_oauth: Conn) -> None:
    token = b'{"access_token": "tok-1", "expires_in": ' + b"9" * 400 + b"}"
    hostile.route("POST", TOKEN_PATH, reply(200, token))
    hostile.route("GET", HISTORY, reply(200, {"status": "SUCCESS", "ruleHistory": []}))
    conn = c1_oauth()
    assert bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)).rule_history == []


def test_a_token_with_cr_lf_is_an_authentication_error(hostile: HostileServer, c1_oauth: Conn) -> None:
    hostile.route("POST", TOKEN_PATH, reply(200, {"access_token": "tok\r\nX-Injected: 1", "expires_in": 600}))
    conn = c1_oauth()
    with pytest.raises(AuthenticationError):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert hostile.count(HISTORY) == 0


async def test_a_vault_session_with_cr_lf_is_an_authentication_error(
    hostile: HostileServer, vault: Conn
) -> None:
    hostile.route("POST", f"{API}/auth", reply(200, {"responseStatus": "SUCCESS", "sessionId": "s\r\nX: 1"}))
    hook = VaultHook(vault())
    with pytest.raises(AuthenticationError):
        await abounded(hook.aget_job_status(9))
    await hook.aclose()


def test_credentials_refused_right_after_renewal_fail_fast_in_hooks(
    hostile: HostileServer, c1_oauth: Conn
) -> None:
    hostile.route("POST", TOKEN_PATH, reply(200, {"access_token": "tok-1", "expires_in": 600}))
    hostile.route("GET", HISTORY, reply(401, {}))
    conn = c1_oauth(max_retries=4)
    with pytest.raises(AuthenticationError):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert hostile.count(TOKEN_PATH) == 2  # one token, one renewal: no new attempt


async def test_a_trigger_reports_refused_renewed_credentials_as_an_error_event_at_once(
    hostile: HostileServer, c1_oauth: Conn
) -> None:
    hostile.route("POST", TOKEN_PATH, reply(200, {"access_token": "tok-1", "expires_in": 600}))
    hostile.route("GET", HISTORY, reply(401, {}))
    trigger = rule_trigger(c1_oauth(), runs_for=2)
    events = await abounded(_collect(trigger), 5)
    assert [(e["status"], e["polls"]) for e in events] == [("error", 1)]


def test_a_sensor_poke_fails_on_refused_renewed_credentials_instead_of_waiting(
    hostile: HostileServer, c1_oauth: Conn
) -> None:
    from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

    hostile.route("POST", TOKEN_PATH, reply(200, {"access_token": "tok-1", "expires_in": 600}))
    hostile.route("GET", HISTORY, reply(401, {}))
    sensor = ClinicalOneRuleJobSensor(
        task_id="wait",
        rule_ids=[RULE_A],
        study_id=STUDY,
        study_mode="test",
        started_after="2026-01-01T00:00:00+00:00",
        clinical_one_conn_id=c1_oauth(),
    )
    with pytest.raises(AuthenticationError):
        bounded(lambda: sensor.poke({}))  # type: ignore[arg-type]


async def _collect(trigger: ClinicalOneRuleJobTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


async def test_a_trigger_turns_a_non_provider_error_into_an_error_event(
    hostile: HostileServer, c1: Conn
) -> None:
    # A ValueError when the triggerer reads the connection.
    trigger = rule_trigger(c1(timeout="nan"), runs_for=2)
    events = await abounded(_collect(trigger), 5)
    assert [(e["status"], e["polls"]) for e in events] == [("error", 1)]
    assert "timeout" in events[0]["message"]
