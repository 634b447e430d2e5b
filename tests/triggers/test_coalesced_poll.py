"""Rule-job triggers of one event loop share one poll per (connection, study, mode)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers import coalesced_poll
from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger
from tests.conftest import RULE_A, STUDY, ConnFactory
from tests.operators.conftest import hours_ago
from tests.triggers.test_rule_job import FAILING_RULE, OLD_SUCCESS_RULE, STALE_RULE, make_trigger

JOB_STATUS = "/jobStatus"
RERUN_HISTORY = "/rerunhistory/"
OTHER_STUDY = "0B0B0B0B0B0B4B0B8B0B0B0B0B0B0B0B"


async def run_all(triggers: list[ClinicalOneRuleJobTrigger]) -> list[dict[str, Any]]:
    """Drive every trigger as its own task in this loop, as a triggerer does; one event each."""

    async def one(trigger: ClinicalOneRuleJobTrigger) -> dict[str, Any]:
        try:
            [event] = [e.payload async for e in trigger.run()]
            return event
        finally:
            await trigger.cleanup()

    return await asyncio.wait_for(asyncio.gather(*(one(t) for t in triggers)), 15)


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def waiting_trigger(conn: str, rules: list[str], **kwargs: Any) -> ClinicalOneRuleJobTrigger:
    """A trigger on rules whose jobs never match (no job after now): it waits until ``end_time``."""
    kwargs.setdefault("started_after", hours_ago(-1).isoformat())
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("end_time", time.time() + 0.9)
    kwargs.setdefault("study_id", STUDY)
    kwargs.setdefault("study_mode", "test")
    return ClinicalOneRuleJobTrigger(rule_ids=rules, clinical_one_conn_id=conn, **kwargs)


def add_rules(simulator: LiveSimulator, count: int, study: str = STUDY, mode: str = "test") -> list[str]:
    return [simulator.state.add_rule(study, mode, rule_id=f"C0{i:030X}").rule_id for i in range(count)]


# --- one request per cycle ---------------------------------------------------------------------


async def test_triggers_of_one_key_share_job_status_requests_per_cycle(
    sim_c1: str, simulator: LiveSimulator
) -> None:
    rules = add_rules(simulator, 600)  # 600 distinct rules: 2 jobStatus requests per cycle
    triggers = [
        # 1.5 s, not 0.9: three polls of 600 rules must fit on a loaded 2-core machine too.
        waiting_trigger(
            sim_c1, rules[i * 100 : i * 100 + 300], poll_endpoint="job_status", end_time=time.time() + 1.5
        )
        for i in range(4)
    ]
    before = len(simulator.state.requests_to(JOB_STATUS))
    events = await run_all(triggers)
    requests = len(simulator.state.requests_to(JOB_STATUS)) - before
    polls = max(e["polls"] for e in events)
    assert {e["status"] for e in events} == {"timeout"}
    assert all(e["polls"] >= 3 for e in events)
    assert 2 * (polls - 1) <= requests <= 2 * (polls + 1)  # per-trigger polling: 4 x polls


async def test_rerun_history_is_read_once_per_distinct_rule_per_cycle(
    sim_c1: str, simulator: LiveSimulator
) -> None:
    rules = add_rules(simulator, 3)
    triggers = [waiting_trigger(sim_c1, r) for r in ([rules[0], rules[1]], [rules[1], rules[2]], [rules[0]])]
    before = len(simulator.state.requests_to(RERUN_HISTORY))
    events = await run_all(triggers)
    requests = len(simulator.state.requests_to(RERUN_HISTORY)) - before
    polls = max(e["polls"] for e in events)
    assert all(e["polls"] >= 3 for e in events)
    assert 3 * (polls - 1) <= requests <= 3 * (polls + 1)  # per-trigger polling: 5 x polls


async def test_each_trigger_still_gets_its_own_verdict(sim_c1: str, simulator: LiveSimulator) -> None:
    long_ago = hours_ago(72).isoformat()
    triggers = [
        make_trigger(sim_c1, [FAILING_RULE], started_after=long_ago, poll_endpoint="job_status"),
        make_trigger(
            sim_c1,
            [FAILING_RULE],
            started_after=long_ago,
            poll_endpoint="job_status",
            failure_statuses=["Cancelled"],
        ),
        make_trigger(sim_c1, [OLD_SUCCESS_RULE], started_after=long_ago, poll_endpoint="job_status"),
        waiting_trigger(sim_c1, [OLD_SUCCESS_RULE], poll_endpoint="job_status", poll_interval=0.05),
    ]
    before = len(simulator.state.requests_to(JOB_STATUS))
    failed, failed_ok, succeeded, waited = await run_all(triggers)
    assert failed["status"] == "failure" and FAILING_RULE in failed["outcome"]["failed"]
    assert failed_ok["status"] == "success" and FAILING_RULE in failed_ok["outcome"]["succeeded"]
    assert succeeded["status"] == "success" and OLD_SUCCESS_RULE in succeeded["outcome"]["succeeded"]
    assert waited["status"] == "timeout" and waited["waiting"] == {OLD_SUCCESS_RULE: "no matching job yet"}
    # the three quick verdicts came from the first shared poll: one request for all four
    assert failed["polls"] == failed_ok["polls"] == succeeded["polls"] == 1
    assert len(simulator.state.requests_to(JOB_STATUS)) - before <= waited["polls"] + 1


async def test_sharing_can_be_switched_off(
    sim_c1: str, simulator: LiveSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CLINICAL_RULES__COALESCE_TRIGGER_POLLS", "False")
    triggers = [waiting_trigger(sim_c1, [OLD_SUCCESS_RULE], poll_endpoint="job_status") for _ in range(3)]
    before = len(simulator.state.requests_to(JOB_STATUS))
    events = await run_all(triggers)
    assert len(simulator.state.requests_to(JOB_STATUS)) - before == sum(e["polls"] for e in events)
    assert coalesced_poll.active_polls() == {}


# --- leaving ---------------------------------------------------------------------------------


async def test_a_cancelled_trigger_leaves_and_the_last_one_out_stops_the_poll(
    sim_c1: str, simulator: LiveSimulator
) -> None:
    triggers = [waiting_trigger(sim_c1, [STALE_RULE], end_time=time.time() + 60) for _ in range(2)]
    tasks = [asyncio.create_task(run_all([t])) for t in triggers]
    await until(lambda: sum(len(p.subscribers) for p in coalesced_poll.active_polls().values()) == 2)
    [shared] = coalesced_poll.active_polls().values()
    poll_task = shared._task
    assert poll_task is not None

    tasks[0].cancel()
    await asyncio.gather(tasks[0], return_exceptions=True)
    assert len(shared.subscribers) == 1 and not poll_task.done()

    tasks[1].cancel()
    await asyncio.gather(tasks[1], return_exceptions=True)
    await asyncio.sleep(0)
    assert coalesced_poll.active_polls() == {}
    assert poll_task.done()
    count = len(simulator.state.requests_to(RERUN_HISTORY))
    await asyncio.sleep(0.5)
    assert len(simulator.state.requests_to(RERUN_HISTORY)) == count  # nobody polls any more


async def test_a_trigger_that_fired_leaves_the_poll(sim_c1: str) -> None:
    waiting = asyncio.create_task(run_all([waiting_trigger(sim_c1, [RULE_A], end_time=time.time() + 60)]))
    try:
        fired = make_trigger(sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(72).isoformat())
        [event] = await run_all([fired])
        assert event["status"] == "success"
        [shared] = coalesced_poll.active_polls().values()
        assert [s.rule_ids for s in shared.subscribers] == [frozenset({RULE_A})]
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    assert coalesced_poll.active_polls() == {}


# --- what does not share ---------------------------------------------------------------------------


async def test_different_connections_studies_and_modes_do_not_share(
    sim_c1: str, simulator: LiveSimulator, make_conn: ConnFactory
) -> None:
    other_conn = make_conn(
        "sim_c1_other", "clinical_one", simulator.url, login="demo-user", password="demo-password"
    )
    for study, mode in ((OTHER_STUDY, "test"), (STUDY, "design")):
        simulator.state.start_job(simulator.state.add_rule(study, mode, rule_id=STALE_RULE), stuck=True)
    triggers = [
        waiting_trigger(sim_c1, [STALE_RULE], end_time=time.time() + 60),
        waiting_trigger(other_conn, [STALE_RULE], end_time=time.time() + 60),
        waiting_trigger(sim_c1, [STALE_RULE], end_time=time.time() + 60, study_mode="design"),
        waiting_trigger(sim_c1, [STALE_RULE], end_time=time.time() + 60, study_id=OTHER_STUDY),
    ]
    tasks = [asyncio.create_task(run_all([t])) for t in triggers]
    try:
        await until(lambda: len(coalesced_poll.active_polls()) == 4)
        polls = coalesced_poll.active_polls()
        assert all(len(p.subscribers) == 1 for p in polls.values())
        assert {(k[0], k[1], k[2]) for k in polls} == {
            (sim_c1, STUDY, "test"),
            (other_conn, STUDY, "test"),
            (sim_c1, STUDY, "design"),
            (sim_c1, OTHER_STUDY, "test"),
        }
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert coalesced_poll.active_polls() == {}


async def test_triggers_in_different_event_loops_do_not_share(sim_c1: str, simulator: LiveSimulator) -> None:
    seen: dict[str, Any] = {}
    joined = threading.Event()

    async def in_other_loop() -> None:
        task = asyncio.create_task(run_all([waiting_trigger(sim_c1, [RULE_A], end_time=time.time() + 60)]))
        await until(lambda: len(coalesced_poll.active_polls()) == 1)
        seen["other"] = next(iter(coalesced_poll.active_polls().values()))
        joined.set()
        await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        seen["other_after"] = coalesced_poll.active_polls()

    thread = threading.Thread(target=asyncio.run, args=(in_other_loop(),))
    thread.start()
    mine = asyncio.create_task(run_all([waiting_trigger(sim_c1, [RULE_A], end_time=time.time() + 60)]))
    try:
        await until(lambda: len(coalesced_poll.active_polls()) == 1)
        assert await asyncio.to_thread(joined.wait, 5)
        [shared] = coalesced_poll.active_polls().values()
        assert shared is not seen["other"]
        assert len(shared.subscribers) == 1 and len(seen["other"].subscribers) == 1
    finally:
        mine.cancel()
        await asyncio.gather(mine, return_exceptions=True)
        await asyncio.to_thread(thread.join, 10)
    assert seen["other_after"] == {}
    assert coalesced_poll.active_polls() == {}


async def test_the_shared_poll_runs_at_the_smallest_interval(sim_c1: str, simulator: LiveSimulator) -> None:
    slow = waiting_trigger(sim_c1, [RULE_A], poll_interval=5.0, end_time=time.time() + 60)
    fast = waiting_trigger(sim_c1, [RULE_A], poll_interval=0.1, end_time=time.time() + 60)
    tasks = [asyncio.create_task(run_all([slow]))]
    try:
        await until(lambda: bool(coalesced_poll.active_polls()))
        [shared] = coalesced_poll.active_polls().values()
        await until(lambda: shared.completed == 1)
        tasks.append(asyncio.create_task(run_all([fast])))
        await asyncio.sleep(0.65)
        assert shared.completed >= 4  # at 5 s it would still be 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_transient_error_of_the_connection_reaches_every_trigger_waiting_on_the_poll(
    sim_c1_no_retry: str, simulator: LiveSimulator
) -> None:
    simulator.state.faults.enqueue("503")
    long_ago = hours_ago(72).isoformat()
    triggers = [make_trigger(sim_c1_no_retry, [OLD_SUCCESS_RULE], started_after=long_ago) for _ in range(3)]
    events = await run_all(triggers)
    assert simulator.state.faults.injected["503"] == 1
    # each saw the one transient fault, polled again and succeeded
    assert [(e["status"], e["polls"]) for e in events] == [("success", 2)] * 3
