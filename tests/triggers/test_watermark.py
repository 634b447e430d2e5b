"""The watcher's watermark in Airflow 3.3's asset state store, across simulated triggerer restarts
(successive TriggerRunners sharing one in-memory store): which asset keeps it, through the
store's public API only, and how many times a job can fire across restarts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers._study_stream import WATERMARK_KEY
from clinical_rules_provider.triggers.rule_job_event import SHARED_STREAMS, ClinicalOneRuleJobEventTrigger
from tests.conftest import RULE_A, RULE_B
from tests.triggers.test_rule_job_event import start_job
from tests.triggers.test_shared_streams import Triggerer, watcher

pytestmark = pytest.mark.skipif(not SHARED_STREAMS, reason="the asset state store arrived in Airflow 3.3")

Values = dict[tuple[str | None, str], Any]


class PublicOnly:
    """An ``AssetStateStoreAccessors`` as its public API shows it: reading any private attribute
    of Airflow's object (``_by_name``, ``_by_uri``, ...) fails as if it were not there."""

    def __init__(self, accessors: Any) -> None:
        self.accessors = accessors

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"{name} is private to Airflow's AssetStateStoreAccessors")
        return getattr(self.accessors, name)

    def __getitem__(self, asset: Any) -> Any:
        return self.accessors[asset]


@pytest.fixture(autouse=True)
def _no_greenback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")


@pytest.fixture
def values(monkeypatch: pytest.MonkeyPatch) -> Values:
    """What Airflow's asset state store holds, per (asset name, key), kept in memory."""
    from airflow.sdk.execution_time.context import AssetStateStoreAccessor

    kept: Values = {}

    async def aget(self: AssetStateStoreAccessor, key: str, default: Any = None) -> Any:
        return kept.get((self._name, key), default)

    async def aset(self: AssetStateStoreAccessor, key: str, value: Any) -> None:
        kept[(self._name, key)] = json.loads(json.dumps(value))  # JSON, as the store keeps it

    monkeypatch.setattr(AssetStateStoreAccessor, "aget", aget)
    monkeypatch.setattr(AssetStateStoreAccessor, "aset", aset)
    return kept


def store_of(*names: str) -> PublicOnly:
    """The ``asset_state_store`` the triggerer gives a watcher feeding these assets."""
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.context import AssetStateStoreAccessors

    return PublicOnly(AssetStateStoreAccessors(inlets=[Asset(name=name) for name in names]))


async def until(what: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def lifetime(
    trigger: ClinicalOneRuleJobEventTrigger,
    store: Any,
    seconds: float,
    during: Callable[[], Any] = lambda: None,
) -> list[str]:
    """One triggerer lifetime of the watcher (rebuilt from its serialized kwargs, as a new
    triggerer would): the job ids it fired."""
    _, kwargs = trigger.serialize()
    triggerer = Triggerer()
    triggerer.start(7, ClinicalOneRuleJobEventTrigger(**kwargs), store)
    try:
        await asyncio.sleep(seconds)
        during()
    finally:
        await triggerer.stop()
    return triggerer.job_ids(7)


def quick(simulator: LiveSimulator) -> None:
    simulator.state.pending_seconds, simulator.state.running_seconds = 0.0, 0.1


async def test_one_assets_watermark_is_kept_through_the_stores_public_api(
    simulator: LiveSimulator, sim_c1: str, values: Values
) -> None:
    quick(simulator)
    trigger = watcher(sim_c1, rule_ids=[RULE_A])
    store = store_of("rule_jobs")
    assert await lifetime(trigger, store, 0.4) == []
    assert ("rule_jobs", WATERMARK_KEY) in values
    job = start_job(simulator, RULE_A)  # the triggerer is down
    await asyncio.sleep(0.3)
    assert await lifetime(trigger, store, 0.5) == [job]


@pytest.mark.parametrize("endpoint", ["job_status", "rerun_history"])
async def test_a_restart_during_the_first_cycle_loses_nothing(
    simulator: LiveSimulator, sim_c1: str, values: Values, endpoint: str
) -> None:
    quick(simulator)
    trigger = watcher(sim_c1, rule_ids=[RULE_A], poll_interval=30, poll_endpoint=endpoint)
    assert await lifetime(trigger, store_of("rule_jobs"), 0.4) == []  # stopped long before a 2nd cycle
    job = start_job(simulator, RULE_A)
    await asyncio.sleep(0.3)
    assert await lifetime(trigger, store_of("rule_jobs"), 0.5) == [job]


async def test_a_job_fired_in_the_last_cycle_before_a_stop_fires_once_more_then_never(
    simulator: LiveSimulator, sim_c1: str, values: Values
) -> None:
    """The bound: at most one repeat per restart, only for a job whose event was handed over
    within the poll cycle before the stop (the watermark is written one cycle later)."""
    quick(simulator)
    trigger = watcher(sim_c1, rule_ids=[RULE_A], poll_interval=0.5)
    store = store_of("rule_jobs")
    _, kwargs = trigger.serialize()
    first = Triggerer()
    first.start(7, ClinicalOneRuleJobEventTrigger(**kwargs), store)
    try:
        await asyncio.sleep(0.3)
        job = start_job(simulator, RULE_A)
        await until(lambda: first.job_ids(7) == [job])
    finally:
        await first.stop()  # within the cycle: its watermark is not written yet
    assert await lifetime(trigger, store, 1.3) == [job]  # the repeat; 2 cycles: now written
    assert await lifetime(trigger, store, 1.2) == []


async def test_a_watcher_of_several_assets_keeps_its_watermark_in_the_named_one(
    simulator: LiveSimulator, sim_c1: str, values: Values
) -> None:
    quick(simulator)
    trigger = watcher(sim_c1, rule_ids=[RULE_A, RULE_B], watermark_asset="audit")
    store = store_of("rule_jobs", "audit")
    assert await lifetime(trigger, store, 0.4) == []
    assert list(values) == [("audit", WATERMARK_KEY)]
    job = start_job(simulator, RULE_B)
    await asyncio.sleep(0.3)
    assert await lifetime(trigger, store, 0.5) == [job]


@pytest.mark.parametrize("named", [None, "elsewhere"])
async def test_a_watcher_of_several_assets_with_no_usable_name_warns_and_watches_from_memory(
    simulator: LiveSimulator, sim_c1: str, values: Values, capsys: pytest.CaptureFixture[str], named: Any
) -> None:
    quick(simulator)
    trigger = watcher(sim_c1, rule_ids=[RULE_A], watermark_asset=named)
    fired = await lifetime(trigger, store_of("rule_jobs", "audit"), 0.4)
    job = start_job(simulator, RULE_A)
    fired += await lifetime(trigger, store_of("rule_jobs", "audit"), 0.5)
    assert fired == [job]  # started after the second watch began: it fires
    assert values == {}
    warnings = [line for line in capsys.readouterr().out.splitlines() if "watermark_asset" in line]
    assert len(warnings) == 2, warnings  # one per watch start (the triggerer's log), none per cycle
    assert all("warning" in line and "is missed" in line for line in warnings), warnings


def test_watermark_asset_is_checked_at_construction_and_left_out_of_the_hash_when_unset(
    sim_c1: str,
) -> None:
    with pytest.raises(ValueError, match="watermark_asset"):
        watcher(sim_c1, rule_ids=[RULE_A], watermark_asset=" ")
    _, plain = watcher(sim_c1, rule_ids=[RULE_A]).serialize()
    assert "watermark_asset" not in plain  # existing watchers keep their trigger hash
    _, named = watcher(sim_c1, rule_ids=[RULE_A], watermark_asset="audit").serialize()
    assert named["watermark_asset"] == "audit"
    assert ClinicalOneRuleJobEventTrigger(**named).serialize()[1] == named


async def test_a_version_1_watermark_of_the_previous_release_goes_on_by_the_services_dates(
    simulator: LiveSimulator, sim_c1: str, values: Values
) -> None:
    """Stored by the previous release (``began``: its worker's clock a minute ago), with the
    service's clock 300 s behind: a job done during the restart fires, judged by its rule's
    watermark (a service date); the rules' old jobs do not."""
    simulator.state.pending_seconds, simulator.state.running_seconds = 0.0, 0.0
    simulator.state.clock_offset_seconds = -300
    service_now, worker_now = simulator.state.now(), datetime.now(timezone.utc)
    values[("rule_jobs", WATERMARK_KEY)] = {
        "version": 1,
        "began": (worker_now - timedelta(minutes=1)).isoformat(),
        "rules": {RULE_A: int((service_now - timedelta(seconds=200)).timestamp() * 1000)},
        "active": {},
    }
    job = start_job(simulator, RULE_A)  # done while no triggerer ran the watch
    trigger = watcher(sim_c1, rule_ids=[RULE_A, RULE_B])
    assert await lifetime(trigger, store_of("rule_jobs"), 0.5) == [job]
