"""ClinicalOneRuleJobEventTrigger (AssetWatcher): canonical serialization and hash dedup,
one event per finished job against the live simulator, and the documented restart behaviour."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.triggers.base import BaseEventTrigger

from clinical_rules_provider.models.clinical_one import RuleJob
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers.rule_job_event import (
    ClinicalOneRuleJobEventTrigger,
    RuleJobEventTracker,
)
from tests.conftest import RULE_A, RULE_B, RULE_C, STUDY

MODE = "test"


def hyphenated(compact: str) -> str:
    low = compact.lower()
    return f"{low[:8]}-{low[8:12]}-{low[12:16]}-{low[16:20]}-{low[20:]}"


def make_trigger(conn_id: str, **kwargs: Any) -> ClinicalOneRuleJobEventTrigger:
    kwargs.setdefault("rule_ids", [RULE_A, RULE_B])
    kwargs.setdefault("poll_interval", 0.05)
    return ClinicalOneRuleJobEventTrigger(
        study_id=STUDY, study_mode=MODE, clinical_one_conn_id=conn_id, **kwargs
    )


async def watch(
    trigger: ClinicalOneRuleJobEventTrigger,
    seconds: float,
    during: Callable[[], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """Run the trigger as the triggerer does (until cancelled), acting ``during`` the watch."""
    payloads: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in trigger.run():
            payloads.append(event.payload)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.2)  # the first poll has answered: the watch has begun
    if during is not None:
        await during()
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return payloads


def start_job(sim: LiveSimulator, rule_id: str, **kwargs: Any) -> str:
    rule = sim.state.rule(STUDY, MODE, rule_id)
    assert rule is not None
    return str(sim.state.start_job(rule, **kwargs).job_id)


# --- serialization and dedup -------------------------------------------------------------


def test_watchers_spelling_the_same_rules_differently_serialize_and_hash_alike() -> None:
    one = ClinicalOneRuleJobEventTrigger(study_id=STUDY, study_mode="TEST", rule_ids=[RULE_A, RULE_B])
    two = ClinicalOneRuleJobEventTrigger(
        study_id=hyphenated(STUDY), study_mode="test", rule_ids=[hyphenated(RULE_B), RULE_A.lower(), RULE_A]
    )
    assert one.serialize() == two.serialize()
    assert BaseEventTrigger.hash(*one.serialize()) == BaseEventTrigger.hash(*two.serialize())


def test_watchers_on_other_rules_hash_differently() -> None:
    one = ClinicalOneRuleJobEventTrigger(study_id=STUDY, study_mode="test", rule_ids=[RULE_A])
    two = ClinicalOneRuleJobEventTrigger(study_id=STUDY, study_mode="test", rule_ids=[RULE_B])
    assert BaseEventTrigger.hash(*one.serialize()) != BaseEventTrigger.hash(*two.serialize())


def test_serialized_kwargs_rebuild_an_equal_trigger() -> None:
    trigger = ClinicalOneRuleJobEventTrigger(
        study_id=STUDY, study_mode="test", rule_filter={"rule_states": ["publish"]}, poll_interval=5
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "clinical_rules_provider.triggers.rule_job_event.ClinicalOneRuleJobEventTrigger"
    assert ClinicalOneRuleJobEventTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_the_trigger_is_accepted_by_an_asset_watcher() -> None:
    from airflow.sdk import Asset, AssetWatcher

    trigger = ClinicalOneRuleJobEventTrigger(study_id=STUDY, study_mode="test", rule_ids=RULE_A)
    asset = Asset("rule_jobs", watchers=[AssetWatcher(name="jobs", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"study_id": "nope", "rule_ids": [RULE_A]}, "study_id"),
        ({"study_mode": "live", "rule_ids": [RULE_A]}, "study_mode"),
        ({}, "rule_ids / rule_filter"),
        ({"rule_ids": [RULE_A], "rule_filter": {}}, "rule_ids / rule_filter"),
        ({"rule_ids": ["x"]}, "rule_ids"),
        ({"rule_filter": {"colour": "red"}}, "colour"),
        ({"rule_ids": [RULE_A], "poll_endpoint": "bulk"}, "poll_endpoint"),
        ({"rule_ids": [RULE_A], "poll_interval": 0}, "poll_interval"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    args = {"study_id": STUDY, "study_mode": "test", **kwargs}
    with pytest.raises(ValueError, match=field):
        ClinicalOneRuleJobEventTrigger(**args)


# --- events --------------------------------------------------------------------------------


def test_each_job_finishing_after_the_watch_began_fires_exactly_once(
    fast_jobs: LiveSimulator, sim_c1: str
) -> None:
    started: list[str] = []

    async def publish() -> None:
        started.append(start_job(fast_jobs, RULE_A))
        started.append(start_job(fast_jobs, RULE_C))

    events = asyncio.run(watch(make_trigger(sim_c1, rule_ids=[RULE_A, RULE_C]), 1.0, publish))
    assert sorted(e["job_id"] for e in events) == sorted(started)  # once each, over ~20 polls
    by_rule = {e["rule_id"]: e for e in events}
    assert by_rule[RULE_A]["status"] == "Success" and by_rule[RULE_A]["phase"] == "success"
    assert by_rule[RULE_C]["status"] == "Failed" and by_rule[RULE_C]["phase"] == "failure"
    assert {e["study_id"] for e in events} == {STUDY} and {e["study_mode"] for e in events} == {MODE}
    assert all(datetime.fromisoformat(e["job_start_date"]).tzinfo for e in events)


def test_jobs_already_finished_when_the_watch_began_never_fire(fast_jobs: LiveSimulator, sim_c1: str) -> None:
    # Seeded: RULE_B and RULE_C have finished jobs from days ago.
    events = asyncio.run(watch(make_trigger(sim_c1, rule_ids=[RULE_B, RULE_C]), 0.5))
    assert events == []


def test_a_job_running_when_the_watch_began_fires_when_it_finishes(
    simulator: LiveSimulator, sim_c1: str
) -> None:
    simulator.state.pending_seconds, simulator.state.running_seconds = 0.0, 0.6
    job = start_job(simulator, RULE_A, started=simulator.state.now() - timedelta(minutes=5))
    events = asyncio.run(watch(make_trigger(sim_c1, rule_ids=[RULE_A]), 1.0))
    assert events == []  # it had been running 5 min, so it finished before the watch: no event
    job = start_job(simulator, RULE_A)
    events = asyncio.run(watch(make_trigger(sim_c1, rule_ids=[RULE_A]), 1.0))
    assert [e["job_id"] for e in events] == [job]


def test_rerun_history_polling_gives_the_same_events(fast_jobs: LiveSimulator, sim_c1: str) -> None:
    started: list[str] = []

    async def publish() -> None:
        started.append(start_job(fast_jobs, RULE_A))

    trigger = make_trigger(sim_c1, rule_ids=[RULE_A], poll_endpoint="rerun_history")
    events = asyncio.run(watch(trigger, 0.8, publish))
    assert [e["job_id"] for e in events] == started


def test_a_rule_filter_watches_the_rules_it_lists(fast_jobs: LiveSimulator, sim_c1: str) -> None:
    started: list[str] = []

    async def publish() -> None:
        started.append(start_job(fast_jobs, RULE_A))

    trigger = make_trigger(sim_c1, rule_ids=None, rule_filter={})  # every rule of the study
    events = asyncio.run(watch(trigger, 0.8, publish))
    assert [(e["rule_id"], e["job_id"]) for e in events] == [(RULE_A, started[0])]


def test_restart_repeats_nothing_misses_jobs_finished_meanwhile_and_catches_running_ones(
    simulator: LiveSimulator, sim_c1: str
) -> None:
    """The documented at-most-once behaviour across a triggerer restart."""
    state = simulator.state
    state.pending_seconds, state.running_seconds = 0.0, 0.1
    first_job: list[str] = []

    async def publish() -> None:
        first_job.append(start_job(simulator, RULE_A))

    before = make_trigger(sim_c1)
    fired_before = asyncio.run(watch(before, 0.5, publish))
    assert [e["job_id"] for e in fired_before] == first_job

    # Triggerer down: one job starts and finishes, another starts and is still running.
    missed = start_job(simulator, RULE_A)
    asyncio.run(asyncio.sleep(0.3))
    state.running_seconds = 1.0
    running = start_job(simulator, RULE_B)

    _, kwargs = before.serialize()  # what the triggerer rebuilds the trigger from
    after = ClinicalOneRuleJobEventTrigger(**kwargs)
    fired_after = asyncio.run(watch(after, 1.3))
    assert [e["job_id"] for e in fired_after] == [running]
    assert missed not in {e["job_id"] for e in fired_before + fired_after}


def test_service_errors_do_not_end_the_watch(fast_jobs: LiveSimulator, make_conn: Any) -> None:
    wrong = make_conn("c1_wrong_password", "clinical_one", fast_jobs.url, login="demo-user", password="no")
    events = asyncio.run(watch(make_trigger(wrong, rule_ids=[RULE_A]), 0.3))
    assert events == []  # it logged and kept polling: watch() had to cancel it


# --- the tracker alone ----------------------------------------------------------------------


def test_tracker_keeps_unknown_statuses_waiting_and_fires_once_they_finish() -> None:
    began = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
    tracker = RuleJobEventTracker(began)
    old = began - timedelta(hours=1)
    job_id = "0E2428167F66445BAB544C7CDD884E87"
    waiting = RuleJob.model_construct(job_id=job_id, job_status="Mystery", job_start_date=old)
    assert tracker.update({RULE_A: [waiting]}) == []
    done = RuleJob.model_construct(job_id=job_id, job_status="Success", job_start_date=old)
    assert [j.job_id for _, j in tracker.update({RULE_A: [done]})] == [job_id]  # seen unfinished
    assert tracker.update({RULE_A: [done]}) == []
