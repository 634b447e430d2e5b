"""The rule-job watch decides from the service's dates only: with the service's clock 300 s
behind or ahead of this worker's, it fires each job that finished after its first reply, once,
and no job that finished before it (the simulator runs over real HTTP with a clock offset)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import RULE_A, RULE_B, STUDY
from tests.triggers.test_rule_job_event import MODE, make_trigger, start_job, watch


def instant_jobs(simulator: LiveSimulator, offset: float) -> LiveSimulator:
    """New jobs are done the moment they start (no poll ever sees them unfinished), on a
    service clock ``offset`` seconds from this worker's."""
    simulator.state.pending_seconds, simulator.state.running_seconds = 0.0, 0.0
    simulator.state.clock_offset_seconds = offset
    return simulator


def test_a_job_done_between_polls_fires_once_when_the_service_clock_is_behind(
    simulator: LiveSimulator, sim_c1: str
) -> None:
    instant_jobs(simulator, -300)
    started: list[str] = []

    async def publish() -> None:
        started.append(start_job(simulator, RULE_A))

    events = asyncio.run(watch(make_trigger(sim_c1), 0.6, publish))
    assert [e["job_id"] for e in events] == started  # over ~10 polls that list it


def test_a_job_done_before_the_first_reply_never_fires_when_the_service_clock_is_ahead(
    simulator: LiveSimulator, sim_c1: str
) -> None:
    instant_jobs(simulator, 300)
    rule = simulator.state.rule(STUDY, MODE, RULE_A)
    assert rule is not None
    simulator.state.start_job(rule, started=simulator.state.now() - timedelta(seconds=10))
    later: list[str] = []

    async def publish() -> None:
        later.append(start_job(simulator, RULE_B))

    events = asyncio.run(watch(make_trigger(sim_c1), 0.6, publish))
    assert [e["job_id"] for e in events] == later


def test_the_first_job_of_a_rule_created_during_the_watch_fires_when_the_service_clock_is_behind(
    simulator: LiveSimulator, sim_c1: str
) -> None:
    instant_jobs(simulator, -300)
    started: list[str] = []

    async def publish() -> None:
        created = simulator.state.add_rule(STUDY, MODE)
        started.append(str(simulator.state.start_job(created).job_id))

    trigger = make_trigger(sim_c1, rule_ids=None, rule_filter={}, rule_refresh_interval=0.05)
    events = asyncio.run(watch(trigger, 0.8, publish))
    assert [e["job_id"] for e in events] == started
