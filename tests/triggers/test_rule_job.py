"""ClinicalOneRuleJobTrigger against the live simulator: serialization, events, deadline, on_kill."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers import coalesced_poll
from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger
from tests.conftest import RULE_A, RULE_B, RULE_C, STUDY, ConnFactory, warnings_logged
from tests.operators.conftest import hours_ago

STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h
FAILING_RULE = RULE_C  # seeded: latest job Failed, one day ago
OLD_SUCCESS_RULE = RULE_B  # seeded: latest job Success, two days ago


def make_trigger(conn_id: str, rule_ids: list[str], **kwargs: Any) -> ClinicalOneRuleJobTrigger:
    kwargs.setdefault("end_time", time.time() + 10)
    kwargs.setdefault("poll_interval", 0.05)
    return ClinicalOneRuleJobTrigger(
        study_id=STUDY, study_mode="test", rule_ids=rule_ids, clinical_one_conn_id=conn_id, **kwargs
    )


async def events(trigger: ClinicalOneRuleJobTrigger) -> list[dict[str, Any]]:
    """Every event the trigger yields (it must end by itself), within 10 s."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return await asyncio.wait_for(collect(), 10)


# --- serialization -----------------------------------------------------------------------


def test_serialize_round_trips_every_argument() -> None:
    trigger = ClinicalOneRuleJobTrigger(
        study_id=STUDY,
        study_mode="test",
        rule_ids=[RULE_A, RULE_B],
        end_time=1_900_000_000.5,
        started_after="2026-03-01T12:00:00+00:00",
        job_ids=["0E2428167F66445BAB544C7CDD884E87"],
        failure_statuses=["Failed"],
        poll_interval=7.5,
        poll_endpoint="job_status",
        clinical_one_conn_id="c1_other",
        max_concurrency=3,
        cancel_on_kill=True,
        first_poll_delay=7.5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "clinical_rules_provider.triggers.rule_job.ClinicalOneRuleJobTrigger"
    assert kwargs == {
        "study_id": STUDY,
        "study_mode": "test",
        "rule_ids": [RULE_A, RULE_B],
        "end_time": 1_900_000_000.5,
        "started_after": "2026-03-01T12:00:00+00:00",
        "job_ids": ["0E2428167F66445BAB544C7CDD884E87"],
        "failure_statuses": ["Failed"],
        "poll_interval": 7.5,
        "poll_endpoint": "job_status",
        "clinical_one_conn_id": "c1_other",
        "max_concurrency": 3,
        "cancel_on_kill": True,
        "first_poll_delay": 7.5,
    }
    assert ClinicalOneRuleJobTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_serialize_round_trips_defaults() -> None:
    classpath, kwargs = ClinicalOneRuleJobTrigger(
        study_id=STUDY, study_mode="test", rule_ids=[RULE_A], end_time=5, started_after=hours_ago(1)
    ).serialize()
    assert kwargs["job_ids"] is None and kwargs["failure_statuses"] is None
    assert kwargs["cancel_on_kill"] is False
    assert kwargs["first_poll_delay"] == 0.0
    assert ClinicalOneRuleJobTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_kwargs_stored_by_the_previous_version_load_and_serialize_canonically() -> None:
    # The previous version stored rule_ids as given: any spelling, repeats kept.
    low = RULE_A.lower()
    hyphenated = f"{low[:8]}-{low[8:12]}-{low[12:16]}-{low[16:20]}-{low[20:]}"
    stored = {
        "study_id": STUDY.lower(),
        "study_mode": "TEST",
        "rule_ids": [hyphenated, RULE_B, RULE_A],
        "end_time": 1_900_000_000.0,
        "started_after": "2026-03-01T12:00:00+00:00",
        "job_ids": None,
        "failure_statuses": None,
        "poll_interval": 30.0,
        "poll_endpoint": "rerun_history",
        "clinical_one_conn_id": "c1",
        "max_concurrency": None,
        "cancel_on_kill": False,
        "first_poll_delay": 0.0,
    }
    _, kwargs = ClinicalOneRuleJobTrigger(**stored).serialize()
    assert kwargs == {**stored, "study_id": STUDY, "study_mode": "test", "rule_ids": [RULE_A, RULE_B]}


def test_a_wait_on_neither_a_start_time_nor_job_ids_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match=r"^started_after: expected an aware datetime when no job_ids"):
        ClinicalOneRuleJobTrigger(study_id=STUDY, study_mode="test", rule_ids=[RULE_A], end_time=5)


# --- run ---------------------------------------------------------------------------------


async def test_success_event_when_the_relevant_job_succeeded(sim_c1: str) -> None:
    trigger = make_trigger(sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(72).isoformat())
    [event] = await events(trigger)
    assert event["status"] == "success"
    assert event["outcome"]["succeeded"][OLD_SUCCESS_RULE]["status"] == "Success"
    assert event["polls"] == 1


async def test_failure_event_names_the_rule_and_status(sim_c1: str) -> None:
    trigger = make_trigger(sim_c1, [FAILING_RULE], started_after=hours_ago(48).isoformat())
    [event] = await events(trigger)
    assert event["status"] == "failure"
    assert FAILING_RULE in event["message"] and "Failed" in event["message"]
    assert event["outcome"]["failed"][FAILING_RULE]["status"] == "Failed"


async def test_old_successful_job_does_not_end_the_wait(sim_c1: str) -> None:
    trigger = make_trigger(
        sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(1).isoformat(), end_time=time.time() + 0.3
    )
    [event] = await events(trigger)
    assert event["status"] == "timeout"
    assert event["waiting"] == {OLD_SUCCESS_RULE: "no matching job yet"}
    assert event["polls"] > 1


async def test_waits_until_a_newly_started_job_finishes(sim_c1: str, fast_jobs: LiveSimulator) -> None:
    started_after = hours_ago(1 / 3600).isoformat()  # RULE_A has no earlier job
    ClinicalOneHook(sim_c1).update_publish_run(STUDY, "test", "AllData", [RULE_A])
    [event] = await events(make_trigger(sim_c1, [RULE_A], started_after=started_after))
    assert event["status"] == "success"
    assert event["polls"] > 1  # the first poll saw the job Pending/Running


async def test_job_ids_select_jobs_regardless_of_start_time(sim_c1: str, simulator: LiveSimulator) -> None:
    rule = simulator.state.rule(STUDY, "test", OLD_SUCCESS_RULE)
    assert rule is not None
    old_job = rule.jobs[-1].job_id
    trigger = make_trigger(sim_c1, [OLD_SUCCESS_RULE], job_ids=[old_job], poll_endpoint="job_status")
    [event] = await events(trigger)
    assert event["status"] == "success"
    assert event["outcome"]["succeeded"][OLD_SUCCESS_RULE]["job_id"] == old_job


async def test_first_poll_waits_first_poll_delay(sim_c1: str, simulator: LiveSimulator) -> None:
    trigger = make_trigger(
        sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(72).isoformat(), first_poll_delay=0.5
    )
    before = simulator.state.request_count
    runner = asyncio.ensure_future(events(trigger))
    await asyncio.sleep(0.3)
    assert simulator.state.request_count == before  # nothing polled yet
    [event] = await runner
    assert event["status"] == "success" and event["polls"] == 1


async def test_first_poll_delay_never_extends_the_deadline(sim_c1: str) -> None:
    trigger = make_trigger(
        sim_c1,
        [STALE_RULE],
        started_after=hours_ago(4).isoformat(),
        end_time=time.time() + 0.2,
        first_poll_delay=30,
    )
    started = time.monotonic()
    [event] = await events(trigger)
    assert event["status"] == "timeout" and event["polls"] == 1
    assert time.monotonic() - started < 5


async def test_deadline_in_the_past_times_out_after_one_poll(sim_c1: str) -> None:
    trigger = make_trigger(
        sim_c1, [STALE_RULE], started_after=hours_ago(4).isoformat(), end_time=time.time() - 1
    )
    [event] = await events(trigger)
    assert event["status"] == "timeout"
    assert event["polls"] == 1
    assert event["waiting"] == {STALE_RULE: "Running"}
    assert STALE_RULE in event["message"]


async def test_non_transient_service_error_yields_an_error_event(
    simulator: LiveSimulator, make_conn: ConnFactory
) -> None:
    conn = make_conn(
        "sim_c1_bad_password", "clinical_one", simulator.url, login="demo-user", password="wrong-password"
    )
    [event] = await events(make_trigger(conn, [OLD_SUCCESS_RULE], started_after=hours_ago(72).isoformat()))
    assert event["status"] == "error"
    assert "401" in event["message"]
    assert "wrong-password" not in event["message"]


async def test_one_transient_fault_does_not_end_the_trigger(
    sim_c1_no_retry: str, simulator: LiveSimulator
) -> None:
    simulator.state.faults.enqueue("503")
    trigger = make_trigger(sim_c1_no_retry, [OLD_SUCCESS_RULE], started_after=hours_ago(72).isoformat())
    [event] = await events(trigger)
    assert simulator.state.faults.injected["503"] == 1
    assert event["status"] == "success"
    assert event["polls"] == 2


# --- on_kill -----------------------------------------------------------------------------


async def test_on_kill_cancels_the_rules_jobs_when_asked(sim_c1: str, simulator: LiveSimulator) -> None:
    trigger = make_trigger(sim_c1, [STALE_RULE], started_after=hours_ago(4).isoformat(), cancel_on_kill=True)
    await trigger.on_kill()
    assert len(simulator.state.requests_to("cancelRuleJob")) == 1
    job = simulator.state.latest_job(STUDY, "test", STALE_RULE)
    assert job is not None and simulator.state.job_status(job) == "Cancelled"


async def test_on_kill_leaves_jobs_alone_by_default(sim_c1: str, simulator: LiveSimulator) -> None:
    trigger = make_trigger(sim_c1, [STALE_RULE], started_after=hours_ago(4).isoformat())
    await trigger.on_kill()
    assert simulator.state.requests_to("cancelRuleJob") == []
    job = simulator.state.latest_job(STUDY, "test", STALE_RULE)
    assert job is not None and simulator.state.job_status(job) == "Running"


@pytest.mark.parametrize(("state", "cancels"), [("deferred", 0), ("failed", 1), ("success", 1)])
async def test_on_kill_cancels_only_when_the_task_left_deferred(
    sim_c1: str, simulator: LiveSimulator, monkeypatch: pytest.MonkeyPatch, state: str, cancels: int
) -> None:
    # Airflow 3.3.2 calls on_kill also when it moves a trigger to another triggerer; the task
    # is still deferred then (make ha-test saw this), and its jobs must go on.
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    asked: list[dict[str, Any]] = []

    def task_states(**kwargs: Any) -> dict[str, Any]:
        asked.append(kwargs)
        return {"run_1": {"wait": state}}

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(task_states))
    trigger = make_trigger(sim_c1, [STALE_RULE], started_after=hours_ago(4).isoformat(), cancel_on_kill=True)
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="wait", run_id="run_1", map_index=-1)  # type: ignore[assignment]
    await trigger.on_kill()
    assert asked == [{"dag_id": "d", "task_ids": ["wait"], "run_ids": ["run_1"], "map_index": -1}]
    assert len(simulator.state.requests_to("cancelRuleJob")) == cancels


# --- clock skew ----------------------------------------------------------------------------


@pytest.mark.parametrize("coalesce", [True, False])
@respx.mock
async def test_a_skewed_service_clock_is_warned_about_once_per_run(
    c1_conn: str, monkeypatch: pytest.MonkeyPatch, coalesce: bool
) -> None:
    monkeypatch.setattr(coalesced_poll, "coalescing_enabled", lambda: coalesce)
    url = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"
    job = {"ruleId": RULE_A, "jobId": "1E2428167F66445BAB544C7CDD884E87", "jobStatus": "Running"}

    def ahead(request: httpx.Request) -> httpx.Response:
        date = formatdate(time.time() + 300, usegmt=True)
        return httpx.Response(200, json={"status": "SUCCESS", "ruleHistory": [job]}, headers={"Date": date})

    respx.get(url).mock(side_effect=ahead)
    trigger = make_trigger(c1_conn, [RULE_A], end_time=time.time() + 0.4, started_after=hours_ago(1))
    with warnings_logged() as warnings:
        [event] = await events(trigger)
    assert event["status"] == "timeout" and event["polls"] > 1
    [warning] = [w for w in warnings if "clock" in w]
    assert "ahead of this worker's" in warning and "started_after" in warning
