"""transport/deadline.py: the one deadline value a hook call hands to its requests and waits.

End to end (a trickling server, retries cut to the deadline) it is tested in
``tests/hostile/test_deadlines.py``; these pin the value's own rules.
"""

from __future__ import annotations

import asyncio
import math
import time
from types import SimpleNamespace

import pytest

from clinical_rules_provider.exceptions import DeadlineExceededError
from clinical_rules_provider.transport import deadline as deadline_module
from clinical_rules_provider.transport.deadline import Deadline

UNBOUNDED = Deadline()


def _in(seconds: float) -> Deadline:
    return Deadline(time.monotonic() + seconds)


@pytest.mark.parametrize("seconds", [None, math.nan])
def test_no_seconds_or_nan_make_an_unbounded_deadline(seconds: float | None) -> None:
    assert Deadline.after(seconds).left() is None


def test_after_counts_from_now_and_a_negative_span_has_already_passed() -> None:
    left = Deadline.after(30).left()
    assert left is not None and 29 < left <= 30
    passed = Deadline.after(-5).left()
    assert passed is not None and -0.5 < passed <= 0


def test_after_keeps_an_enclosing_deadline_that_ends_first() -> None:
    outer = _in(10)
    assert Deadline.after(60, outer) is outer
    assert Deadline.after(None, outer) is outer


def test_after_ignores_an_enclosing_deadline_that_ends_later_or_never() -> None:
    for outer in (_in(600), UNBOUNDED):
        left = Deadline.after(5, outer).left()
        assert left is not None and left <= 5


def test_a_pause_is_cut_to_what_is_left_and_never_below_zero() -> None:
    assert UNBOUNDED.pause(90) == 90
    assert _in(600).pause(3) == 3
    assert _in(2).pause(90) <= 2
    assert _in(-1).pause(90) == 0


def test_a_wait_that_fits_is_returned_and_one_that_would_pass_the_deadline_raises() -> None:
    assert UNBOUNDED.wait(1e6, "a retry") == 1e6
    assert _in(600).wait(5, "a retry") == 5
    with pytest.raises(DeadlineExceededError, match=r"^a retry: a wait of 30\.0 s would pass"):
        _in(10).wait(30, "a retry")


def test_a_wait_of_exactly_what_is_left_raises_rather_than_sleep_into_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadline_module, "time", SimpleNamespace(monotonic=lambda: 100.0))
    with pytest.raises(DeadlineExceededError):
        Deadline(105.0).wait(5, "a retry")
    assert Deadline(105.0).wait(4.999, "a retry") == 4.999


def test_request_timeouts_are_the_connections_until_the_deadline_is_closer() -> None:
    names = {"connect", "read", "write", "pool"}
    assert _in(600).timeouts(60) == dict.fromkeys(names, 60)
    assert UNBOUNDED.timeouts(60) == dict.fromkeys(names, 60)
    close = _in(2).timeouts(60)
    assert set(close) == names and all(0 < value <= 2 for value in close.values())
    assert _in(-3).timeouts(60) == dict.fromkeys(names, 0.001)  # httpx needs a positive timeout


async def test_bound_returns_what_the_call_returns_within_the_deadline() -> None:
    async def answer() -> str:
        await asyncio.sleep(0)
        return "reply"

    assert await _in(5).bound(answer(), "GET /x") == "reply"
    assert await UNBOUNDED.bound(answer(), "GET /x") == "reply"


async def test_bound_stops_a_call_still_running_at_the_deadline() -> None:
    cancelled = asyncio.Event()

    async def trickle() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cancelled.set()

    started = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="GET /x still unanswered at the call's deadline"):
        await _in(0.05).bound(trickle(), "GET /x")
    assert time.monotonic() - started < 2
    assert cancelled.is_set()


def test_a_deadline_holds_no_state_but_its_end() -> None:
    deadline = _in(5)
    with pytest.raises(AttributeError):
        deadline.at = 0.0  # type: ignore[misc]
