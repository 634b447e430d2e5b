"""Watchers in Airflow 3.3's own TriggerRunner: one shared poll per study, isolated
subscribers, and a watermark in the asset state store that survives a triggerer restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest

from clinical_rules_provider.exceptions import ClinicalOneValidationError
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers.rule_job_event import SHARED_STREAMS, ClinicalOneRuleJobEventTrigger
from tests.conftest import RULE_A, RULE_B, RULE_C
from tests.triggers.test_rule_job_event import make_trigger, start_job

pytestmark = pytest.mark.skipif(not SHARED_STREAMS, reason="shared streams arrived in Airflow 3.3")

JOB_STATUS = "/jobStatus"
INTERVAL = 0.1


class Triggerer:
    """Airflow's ``TriggerRunner`` (the triggerer's async side) driven in this event loop."""

    def __init__(self) -> None:
        from airflow.jobs.triggerer_job_runner import TriggerRunner

        self.runner = TriggerRunner()
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, trigger_id: int, trigger: ClinicalOneRuleJobEventTrigger, store: Any = None) -> None:
        trigger.trigger_id = trigger_id
        trigger.asset_state_store = store
        self.runner.triggers[trigger_id] = {"name": f"ID {trigger_id}", "events": 0, "is_watcher": True}
        self.tasks[trigger_id] = asyncio.create_task(self.runner.run_trigger(trigger_id, trigger))

    async def remove(self, trigger_id: int) -> None:
        task = self.tasks.pop(trigger_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def stop(self) -> None:
        for trigger_id in list(self.tasks):
            await self.remove(trigger_id)
        await self.runner._shared_streams.stop_all()

    def job_ids(self, trigger_id: int) -> list[str]:
        return [e.event.payload["job_id"] for e in self.runner.events if e.trigger_id == trigger_id]

    def groups(self) -> int:
        return len(self.runner._shared_streams._groups)


@pytest.fixture(autouse=True)
def _no_greenback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Airflow's AssetStateStoreAccessors for one asset, kept in memory instead of the API server."""
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.context import AssetStateStoreAccessor, AssetStateStoreAccessors

    values: dict[tuple[str | None, str], Any] = {}

    async def aget(self: AssetStateStoreAccessor, key: str, default: Any = None) -> Any:
        return values.get((self._name, key), default)

    async def aset(self: AssetStateStoreAccessor, key: str, value: Any) -> None:
        values[(self._name, key)] = json.loads(json.dumps(value))  # JSON, as the store keeps it

    monkeypatch.setattr(AssetStateStoreAccessor, "aget", aget)
    monkeypatch.setattr(AssetStateStoreAccessor, "aset", aset)
    return AssetStateStoreAccessors(inlets=[Asset(name="rule_jobs")])


def watcher(conn: str, **kwargs: Any) -> ClinicalOneRuleJobEventTrigger:
    kwargs.setdefault("poll_endpoint", "job_status")
    kwargs.setdefault("poll_interval", INTERVAL)
    return make_trigger(conn, **kwargs)


async def test_job_status_watchers_of_one_study_share_one_request_per_cycle(
    fast_jobs: LiveSimulator, sim_c1: str
) -> None:
    triggerer = Triggerer()
    rule_sets = [[RULE_A], [RULE_B], [RULE_A, RULE_C], None, [RULE_C]]
    for number, rules in enumerate(rule_sets):
        kwargs = {"rule_ids": rules} if rules else {"rule_ids": None, "rule_filter": {}}
        triggerer.start(number, watcher(sim_c1, **kwargs))
    try:
        await asyncio.sleep(0.3)
        assert triggerer.groups() == 1
        before, began = len(fast_jobs.state.requests_to(JOB_STATUS)), time.monotonic()
        job = start_job(fast_jobs, RULE_A)
        await asyncio.sleep(1.0)
        requests = len(fast_jobs.state.requests_to(JOB_STATUS)) - before
        cycles = (time.monotonic() - began) / INTERVAL
    finally:
        await triggerer.stop()
    assert requests <= cycles + 1  # five watchers polling alone: five per cycle
    assert [triggerer.job_ids(n) for n in range(5)] == [[job], [], [job], [job], []]


async def test_rerun_history_watchers_poll_alone(simulator: LiveSimulator, sim_c1: str) -> None:
    triggerer = Triggerer()
    for number in range(2):
        triggerer.start(number, watcher(sim_c1, rule_ids=[RULE_A], poll_endpoint="rerun_history"))
    try:
        await asyncio.sleep(0.3)
        assert triggerer.groups() == 0
    finally:
        await triggerer.stop()


async def test_a_watcher_leaving_does_not_touch_the_others(fast_jobs: LiveSimulator, sim_c1: str) -> None:
    triggerer = Triggerer()
    for number in range(3):
        triggerer.start(number, watcher(sim_c1, rule_ids=[RULE_A]))
    try:
        await asyncio.sleep(0.3)
        await triggerer.remove(0)  # the first subscriber, whose kwargs opened the poll
        job = start_job(fast_jobs, RULE_A)
        await asyncio.sleep(0.8)
        assert triggerer.groups() == 1
    finally:
        await triggerer.stop()
    assert [triggerer.job_ids(n) for n in range(3)] == [[], [job], [job]]


async def test_one_rules_error_reaches_only_its_watchers(
    fast_jobs: LiveSimulator, sim_c1: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ClinicalOneHook.alatest_jobs

    async def refuse_rule_c(self: ClinicalOneHook, study: str, mode: str, rule_ids: Any, **kw: Any) -> Any:
        if RULE_C in rule_ids:
            raise ClinicalOneValidationError(f"ruleId {RULE_C} is not valid here", status_code=400)
        return await original(self, study, mode, rule_ids, **kw)

    monkeypatch.setattr(ClinicalOneHook, "alatest_jobs", refuse_rule_c)
    triggerer = Triggerer()
    triggerer.start(1, watcher(sim_c1, rule_ids=[RULE_A]))
    triggerer.start(2, watcher(sim_c1, rule_ids=[RULE_C]))
    try:
        await asyncio.sleep(0.3)
        job = start_job(fast_jobs, RULE_A)
        await asyncio.sleep(0.8)
        assert not any(task.done() for task in triggerer.tasks.values())  # nobody failed
    finally:
        await triggerer.stop()
    assert triggerer.job_ids(1) == [job]


@pytest.mark.parametrize("endpoint", ["job_status", "rerun_history"])
async def test_a_job_finishing_while_the_triggerer_is_down_fires_after_the_restart(
    simulator: LiveSimulator, sim_c1: str, store: Any, endpoint: str
) -> None:
    state = simulator.state
    state.pending_seconds, state.running_seconds = 0.0, 0.1
    trigger = watcher(sim_c1, rule_ids=[RULE_A, RULE_B], poll_endpoint=endpoint)
    first = Triggerer()
    first.start(7, trigger, store)
    await asyncio.sleep(0.3)
    before = start_job(simulator, RULE_A)
    await asyncio.sleep(0.8)
    await first.stop()
    assert first.job_ids(7) == [before]

    # the triggerer is down: one job starts and finishes
    missed_by_a_fresh_watch = start_job(simulator, RULE_B)
    await asyncio.sleep(0.3)

    _, kwargs = trigger.serialize()  # what the next triggerer rebuilds the trigger from
    second = Triggerer()
    second.start(7, ClinicalOneRuleJobEventTrigger(**kwargs), store)
    await asyncio.sleep(0.6)
    await second.stop()
    assert second.job_ids(7) == [missed_by_a_fresh_watch]  # and the one fired before is not repeated
