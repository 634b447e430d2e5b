"""Subscribers of one shared poll are isolated: a rule's error, the connection's errors,
rotated secrets, each trigger's own deadline, and closed event loops."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from clinical_rules_provider import _state
from clinical_rules_provider.exceptions import ClinicalOneValidationError
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers import coalesced_poll
from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger
from tests.conftest import RULE_A, STUDY, ConnFactory
from tests.operators.conftest import hours_ago
from tests.triggers.test_coalesced_poll import run_all, until, waiting_trigger
from tests.triggers.test_rule_job import FAILING_RULE, OLD_SUCCESS_RULE, STALE_RULE, make_trigger

# --- isolation ---------------------------------------------------------------------------------

BAD_RULE = "BADBAD00000000000000000000000000"


@pytest.fixture
def bad_rule_draws_400(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every request that names BAD_RULE is refused with a 400 naming it (as a service does
    for a rule it will not report on); the rule sets asked are recorded."""
    asked: list[list[str]] = []
    original = ClinicalOneHook.alatest_jobs

    async def alatest_jobs(self: ClinicalOneHook, study: str, mode: str, rule_ids: Any, **kw: Any) -> Any:
        asked.append(list(rule_ids))
        if BAD_RULE in rule_ids:
            raise ClinicalOneValidationError(f"ruleId {BAD_RULE} is not valid here", status_code=400)
        return await original(self, study, mode, rule_ids, **kw)

    monkeypatch.setattr(ClinicalOneHook, "alatest_jobs", alatest_jobs)
    return asked


@pytest.mark.parametrize("endpoint", ["job_status", "rerun_history"])
async def test_a_rule_error_fails_only_the_triggers_that_watch_that_rule(
    sim_c1: str, bad_rule_draws_400: list[list[str]], endpoint: str
) -> None:
    long_ago = hours_ago(72).isoformat()
    healthy = make_trigger(
        sim_c1, [OLD_SUCCESS_RULE, FAILING_RULE], started_after=long_ago, poll_endpoint=endpoint
    )
    other = make_trigger(sim_c1, [OLD_SUCCESS_RULE], started_after=long_ago, poll_endpoint=endpoint)
    broken = make_trigger(
        sim_c1, [BAD_RULE, OLD_SUCCESS_RULE], started_after=long_ago, poll_endpoint=endpoint
    )
    healthy_event, other_event, broken_event = await run_all([healthy, other, broken])
    assert healthy_event["status"] == "failure" and FAILING_RULE in healthy_event["outcome"]["failed"]
    assert other_event["status"] == "success"
    assert broken_event["status"] == "error" and BAD_RULE in broken_event["message"]
    # one shared poll: the union first, then halves until the culprit stood alone
    assert sorted(bad_rule_draws_400[0]) == sorted({BAD_RULE, OLD_SUCCESS_RULE, FAILING_RULE})
    assert [BAD_RULE] in bad_rule_draws_400


async def test_a_known_culprit_is_asked_alone_on_later_polls(
    sim_c1: str, bad_rule_draws_400: list[list[str]]
) -> None:
    from clinical_rules_provider.models.refs import StudyRef
    from clinical_rules_provider.triggers._study_poll import StudyPoller

    poller = StudyPoller(sim_c1, StudyRef.of(STUDY, "test"), "job_status", history=False)
    rules = [BAD_RULE, OLD_SUCCESS_RULE, FAILING_RULE, RULE_A]
    try:
        first = await poller.poll(rules)
        bad_rule_draws_400.clear()
        second = await poller.poll(rules)
    finally:
        await poller.aclose()
    for result in (first, second):
        assert (
            set(result.failed) == {BAD_RULE}
            and {OLD_SUCCESS_RULE, FAILING_RULE, RULE_A} <= result.jobs.keys()
        )
    assert sorted(map(sorted, bad_rule_draws_400)) == sorted([[BAD_RULE], sorted(rules[1:])])


async def test_an_error_that_is_not_one_rules_reaches_everyone(
    sim_c1: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise ClinicalOneValidationError("study is locked", status_code=400)

    monkeypatch.setattr(ClinicalOneHook, "alatest_jobs", refused)
    long_ago = hours_ago(72).isoformat()
    triggers = [
        make_trigger(sim_c1, [rule], started_after=long_ago) for rule in (OLD_SUCCESS_RULE, FAILING_RULE)
    ]
    events = await run_all(triggers)
    assert [(e["status"], "study is locked" in e["message"]) for e in events] == [("error", True)] * 2


async def test_refused_credentials_reach_every_trigger_on_the_connection(
    simulator: LiveSimulator, make_conn: ConnFactory
) -> None:
    wrong = make_conn("c1_wrong", "clinical_one", simulator.url, login="demo-user", password="wrong")
    long_ago = hours_ago(72).isoformat()
    triggers = [
        make_trigger(wrong, [rule], started_after=long_ago) for rule in (OLD_SUCCESS_RULE, FAILING_RULE)
    ]
    events = await run_all(triggers)
    assert [e["status"] for e in events] == ["error", "error"]


async def test_a_trigger_that_joins_after_a_secret_rotation_uses_the_new_secret(
    simulator: LiveSimulator, make_conn: ConnFactory, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setattr(_state.CONNECTIONS, "ttl", 0.0)  # production: 30 s, for shared and lone hooks alike
    conn = make_conn(
        "c1_rotating", "clinical_one", simulator.url, login="demo-user", password="demo-password"
    )
    early = asyncio.create_task(run_all([waiting_trigger(conn, [STALE_RULE], end_time=time.time() + 2.0)]))
    await until(lambda: any(p.completed for p in coalesced_poll.active_polls().values()))
    # the secret rotates: the service and the Airflow connection change together
    simulator.state.settings.c1_basic_users = {"demo-user": "rotated-password"}
    make_conn("c1_rotating", "clinical_one", simulator.url, login="demo-user", password="rotated-password")
    late = make_trigger(conn, [OLD_SUCCESS_RULE], started_after=hours_ago(72).isoformat())
    [event] = await run_all([late])
    assert event["status"] == "success", event
    early.cancel()
    await asyncio.gather(early, return_exceptions=True)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the abandoned run
def test_the_registry_never_keeps_a_closed_event_loop_alive(sim_c1: str) -> None:
    import gc
    import weakref

    async def leave_a_subscription_behind() -> weakref.ref[coalesced_poll.SharedPoll]:
        trigger = waiting_trigger(sim_c1, [STALE_RULE], end_time=time.time() + 60)
        runner = trigger.run()
        pending = asyncio.ensure_future(runner.__anext__())  # never closed: its seat is never given up
        await until(lambda: bool(coalesced_poll.active_polls()))
        [shared] = coalesced_poll.active_polls().values()
        assert not pending.done()
        return weakref.ref(shared)

    loop = asyncio.new_event_loop()
    abandoned = loop.run_until_complete(leave_a_subscription_behind())
    loop.close()
    assert any(owner is loop for owner, _ in _state.POLLS.snapshot())

    async def subscribe_elsewhere() -> None:
        key = coalesced_poll.PollKey(sim_c1, STUDY, "test", "rerun_history", False, None)
        coalesced_poll.subscribe(key, [RULE_A], 60, time.time() + 1).leave()

    asyncio.run(subscribe_elsewhere())
    assert _state.POLLS.snapshot() == {}
    del loop
    gc.collect()
    assert abandoned() is None  # its poll (the holder of the loop, its futures and tasks) is gone


async def test_a_transient_error_is_judged_against_each_triggers_own_deadline(
    sim_c1_no_retry: str, simulator: LiveSimulator
) -> None:
    simulator.state.faults.configure(fault_rate=1.0, fault_kinds=["503"])  # every poll fails, transiently
    began = time.monotonic()
    short = waiting_trigger(sim_c1_no_retry, [STALE_RULE], poll_interval=0.1, end_time=time.time() + 0.6)
    long = waiting_trigger(sim_c1_no_retry, [STALE_RULE], poll_interval=0.1, end_time=time.time() + 1.6)
    ended: dict[str, float] = {}

    async def one(name: str, trigger: ClinicalOneRuleJobTrigger) -> dict[str, Any]:
        [event] = await run_all([trigger])
        ended[name] = time.monotonic() - began
        return event

    short_event, long_event = await asyncio.gather(one("short", short), one("long", long))
    assert short_event["status"] == long_event["status"] == "timeout"
    assert 0.5 <= ended["short"] < 1.2 and ended["long"] >= 1.5  # each at its own end_time
