"""The "realistic" simulator profile: a tenant whose clock, zone, stamps, queue and replies differ."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from clinical_rules_provider.testing import ManualClock, SimulatorState, create_app
from clinical_rules_provider.testing.profiles import REALISTIC
from tests.testing.conftest import DESIGNER, VISIT_RULE, ClinicalOneBasic, S

JOB_STATUS = f"/ec-rule-svc/rest/v2.0/studies/{S}/test/jobStatus"
# 2026-11-01 01:30 EST in New York, the second 01:30 of the DST fall-back night.
FALL_BACK_SECOND_PASS = datetime(2026, 11, 1, 6, 30, 12, 345_000, tzinfo=timezone.utc)


def realistic(clock: ManualClock, **overrides: object) -> SimulatorState:
    state = SimulatorState(profile="realistic", clock=clock, **overrides)  # type: ignore[arg-type]
    state.faults.configure(fault_rate=0.0)  # these tests look at time, not at lost replies
    return state


async def _client(state: SimulatorState) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(state))
    return httpx.AsyncClient(transport=transport, base_url="http://sim", auth=ClinicalOneBasic())


def test_the_profile_sets_each_difference_and_explicit_values_win() -> None:
    state = SimulatorState(profile="realistic", clock_offset_seconds=300)
    assert state.service_timezone == "America/New_York"
    assert (state.clock_offset_seconds, state.job_queue_seconds) == (300, REALISTIC["job_queue_seconds"])
    assert state.second_precision_stamps is True
    assert state.faults.fault_rate > 0 and all(k.startswith("lost_reply") for k in state.faults.fault_kinds)
    with pytest.raises(ValueError, match="profile"):
        SimulatorState(profile="typical")


def test_the_service_clock_runs_off_by_the_offset() -> None:
    clock = ManualClock(FALL_BACK_SECOND_PASS)
    assert realistic(clock).now() == FALL_BACK_SECOND_PASS - timedelta(minutes=3)


def test_stamps_are_local_with_dst_and_whole_seconds() -> None:
    state = realistic(ManualClock(FALL_BACK_SECOND_PASS), clock_offset_seconds=0)
    assert state.format_job_start(FALL_BACK_SECOND_PASS) == "2026-11-01 01:30:12.000"
    # An hour earlier is the same wall-clock time on the first (EDT) pass.
    assert state.format_job_start(FALL_BACK_SECOND_PASS - timedelta(hours=1)) == "2026-11-01 01:30:12.000"


async def test_an_accepted_update_is_queued_and_its_job_appears_only_once_started() -> None:
    clock = ManualClock(FALL_BACK_SECOND_PASS)
    state = realistic(clock, job_queue_seconds=20)
    async with await _client(state) as client:
        before = await client.put(JOB_STATUS, json={"ruleIds": [VISIT_RULE]})
        items = (await client.put(f"{DESIGNER}/AllData", json={"ruleIds": [VISIT_RULE]})).json()
        assert [i["jobStatus"] for i in items] == ["Queued"]
        queued = await client.put(JOB_STATUS, json={"ruleIds": [VISIT_RULE]})
        assert queued.json() == before.json()  # no new job yet
        clock.advance(20)
        started = (await client.put(JOB_STATUS, json={"ruleIds": [VISIT_RULE]})).json()["jobStatus"]
    assert len(started) == 1 and started[0]["jobId"] not in str(before.json())
