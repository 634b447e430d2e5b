"""The one poll loop and its one error policy (``triggers/_loop.py``), on their own."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from clinical_rules_provider.exceptions import ClinicalOneValidationError, TransientServiceError
from clinical_rules_provider.triggers._loop import Failure, judge, poll_cycles

log = logging.getLogger("test_loop")


def test_the_policy_sorts_errors_into_transient_the_services_and_bugs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert judge(TransientServiceError("503 from the service"), "jobs", log) == Failure(
        "503 from the service", transient=True
    )
    assert judge(ClinicalOneValidationError("ruleId X is not valid"), "jobs", log) == Failure(
        "ruleId X is not valid"
    )
    assert not caplog.records  # the service's errors carry their message; nothing to trace
    with caplog.at_level(logging.ERROR, logger="test_loop"):
        bug = judge(KeyError("oops"), "jobs", log)
    assert bug == Failure("KeyError while polling jobs: 'oops'")
    [record] = caplog.records
    assert record.exc_info is not None  # a bug keeps its traceback, logged once


async def test_a_cycle_that_raises_becomes_an_answer_and_the_loop_goes_on() -> None:
    calls = 0

    async def cycle() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransientServiceError("dropped")
        if calls == 2:
            raise RuntimeError("a bug")
        return calls

    answers = poll_cycles(cycle, what="jobs", interval=lambda: 0.0, log=log)
    got = [await anext(answers) for _ in range(3)]
    await answers.aclose()
    assert got == [Failure("dropped", transient=True), Failure("RuntimeError while polling jobs: a bug"), 3]


async def test_cycles_start_an_interval_apart_and_a_pause_ends_at_the_deadline() -> None:
    async def slow() -> None:
        await asyncio.sleep(0.2)

    answers = poll_cycles(slow, what="jobs", interval=lambda: 0.5, log=log, deadline=time.time() + 0.8)
    began = time.monotonic()
    await anext(answers)
    await anext(
        answers
    )  # the second starts 0.5 s after the first began (ended 0.7), not 0.5 s after it ended (0.9)
    second = time.monotonic() - began
    await anext(answers)  # its pause is cut at the deadline: started 0.8, ended 1.0 (not 1.2)
    third = time.monotonic() - began
    await answers.aclose()
    assert 0.65 <= second < 0.85 and 0.95 <= third < 1.15


async def test_a_wake_makes_the_pause_follow_a_new_interval() -> None:
    interval = 5.0
    wake = asyncio.Event()

    async def cycle() -> None:
        return None

    answers = poll_cycles(cycle, what="jobs", interval=lambda: interval, log=log, wake=wake)
    await anext(answers)
    began = time.monotonic()
    nxt = asyncio.ensure_future(anext(answers))
    await asyncio.sleep(0.05)
    interval = 0.1
    wake.set()
    await asyncio.wait_for(nxt, 1.0)
    assert time.monotonic() - began < 0.5
    await answers.aclose()
