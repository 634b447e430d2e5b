"""Triggers refuse bad settings in their constructor (DAG parse / defer), never in the triggerer."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import pytest

from clinical_rules_provider.hooks.vault import JOB_STATUS_MIN_INTERVAL
from clinical_rules_provider.task_helpers import MIN_RULE_POLL_INTERVAL
from clinical_rules_provider.triggers import _checks
from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger
from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger
from clinical_rules_provider.triggers.vault_job import VaultJobTrigger
from tests.conftest import RULE_A, STUDY


@pytest.fixture
def documented_floors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The floors as shipped (the suite lowers them for fast simulator runs)."""
    monkeypatch.setattr(_checks, "RULE_POLL_FLOOR", MIN_RULE_POLL_INTERVAL)
    monkeypatch.setattr(_checks, "VAULT_POLL_FLOOR", JOB_STATUS_MIN_INTERVAL)


def rule_trigger(**kwargs: Any) -> ClinicalOneRuleJobTrigger:
    args = {"study_id": STUDY, "study_mode": "test", "rule_ids": [RULE_A], "end_time": time.time() + 60}
    args["started_after"] = "2026-01-01T00:00:00+00:00"
    return ClinicalOneRuleJobTrigger(**{**args, **kwargs})


def event_trigger(**kwargs: Any) -> ClinicalOneRuleJobEventTrigger:
    return ClinicalOneRuleJobEventTrigger(
        **{"study_id": STUDY, "study_mode": "test", "rule_ids": [RULE_A], **kwargs}
    )


def vault_trigger(**kwargs: Any) -> VaultJobTrigger:
    return VaultJobTrigger(**{"job_ids": [1], "end_time": time.time() + 60, **kwargs})


BUILDERS = {"rule": rule_trigger, "event": event_trigger, "vault": vault_trigger}


def test_the_floors_are_the_documented_ones() -> None:
    assert (_checks.RULE_POLL_FLOOR, _checks.VAULT_POLL_FLOOR) == (0.01, 0.0)  # lowered by the suite
    assert MIN_RULE_POLL_INTERVAL == 1.0 and JOB_STATUS_MIN_INTERVAL == 10.0


@pytest.mark.usefixtures("documented_floors")
@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize("interval", [math.nan, math.inf, -math.inf, 0, -1, 0.5, True, "30", None, 10**400])
def test_a_poll_interval_that_is_not_finite_or_below_the_floor_is_refused(kind: str, interval: Any) -> None:
    with pytest.raises(ValueError, match="poll_interval: expected a finite number of seconds >= 1"):
        BUILDERS[kind](poll_interval=interval)


@pytest.mark.usefixtures("documented_floors")
def test_the_vault_floor_is_ten_seconds() -> None:
    with pytest.raises(ValueError, match="poll_interval: expected a finite number of seconds >= 10"):
        vault_trigger(poll_interval=9.5)
    assert vault_trigger(poll_interval=10).poll_interval == 10.0


@pytest.mark.usefixtures("documented_floors")
def test_intervals_at_the_floor_are_accepted() -> None:
    assert rule_trigger(poll_interval=1).poll_interval == 1.0
    assert event_trigger(poll_interval=1, rule_refresh_interval=1).rule_refresh_interval == 1.0


@pytest.mark.usefixtures("documented_floors")
@pytest.mark.parametrize("value", [math.nan, 0, 0.2])
def test_the_rule_refresh_interval_is_checked_too(value: float) -> None:
    with pytest.raises(ValueError, match="rule_refresh_interval"):
        event_trigger(rule_refresh_interval=value)


@pytest.mark.parametrize("kind", ["rule", "event"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "4"])
def test_max_concurrency_must_be_positive(kind: str, value: Any) -> None:
    with pytest.raises(ValueError, match="max_concurrency: expected a positive integer"):
        BUILDERS[kind](max_concurrency=value)


@pytest.mark.parametrize("kind", ["rule", "vault"])
@pytest.mark.parametrize(
    ("field", "value"), [("end_time", math.nan), ("end_time", math.inf), ("first_poll_delay", math.nan)]
)
def test_deadlines_and_delays_must_be_finite(kind: str, field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        BUILDERS[kind](**{field: value})


@pytest.mark.parametrize(
    ("field", "form"),
    [
        ("end_time", "expected finite epoch seconds"),
        ("first_poll_delay", "expected a finite number of seconds"),
    ],
)
def test_a_deadline_or_delay_error_names_the_accepted_form(field: str, form: str) -> None:
    with pytest.raises(ValueError, match=f"{field}: {form}, got 'nan'"):
        rule_trigger(**{field: math.nan})


def test_a_negative_first_poll_delay_means_none() -> None:
    assert rule_trigger(first_poll_delay=-5).first_poll_delay == 0.0


def test_the_error_is_also_what_the_triggerer_treats_as_a_trigger_that_cannot_inflate() -> None:
    # Airflow's triggerer fails one trigger on TypeError, but stops its loop on anything else:
    # a row stored by an older provider (no floor then) must fail alone.
    with pytest.raises(TypeError):
        rule_trigger(poll_interval=math.nan)


async def test_a_hook_that_cannot_be_built_is_an_error_event_not_an_exception(sim_c1: str) -> None:
    trigger = rule_trigger(clinical_one_conn_id=sim_c1, started_after="2026-01-01T00:00:00+00:00")
    trigger.max_concurrency = 0  # past the constructor (a stored row, a subclass): run() still must not raise
    events = [event.payload async for event in trigger.run()]
    assert [e["status"] for e in events] == ["error"]
    assert "max_concurrency" in events[0]["message"]


async def test_a_watcher_keeps_watching_through_an_unexpected_error(caplog: pytest.LogCaptureFixture) -> None:
    trigger = event_trigger(clinical_one_conn_id="no_such_connection", poll_interval=0.05)
    trigger._log = logging.getLogger("watcher-under-test")  # stdlib, so caplog sees it
    runner = asyncio.ensure_future(anext(aiter(trigger.run())))
    for _ in range(200):  # up to 10 s: a missing connection is slow to report on Airflow 3.0.6
        if "no_such_connection" in caplog.text:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # and a poll or two later
    assert not runner.done()  # an exception out of run() would have ended the watch
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert "no_such_connection" in caplog.text
