"""ServiceHook (``hooks/base.py``): what both hooks share, tested through ClinicalOneHook."""

from __future__ import annotations

from typing import Any

import pytest

from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.transport.deadline import Deadline
from clinical_rules_provider.transport.session import HttpSession
from tests.conftest import RULE_A, STUDY, ConnFactory


@pytest.fixture
def deadlines(monkeypatch: pytest.MonkeyPatch) -> list[Deadline]:
    """The deadline each call's exchange is driven with (nothing is sent)."""
    seen: list[Deadline] = []

    async def arun(self: HttpSession, exchange: Any, deadline: Deadline) -> None:
        seen.append(deadline)

    monkeypatch.setattr(HttpSession, "arun", arun)
    return seen


def _left(deadlines: list[Deadline]) -> float | None:
    return deadlines[-1].left()


def _conn(make_conn: ConnFactory, **extra: Any) -> str:
    return make_conn("c1_limit", "clinical_one", "c1.test", login="u", password="p", extra=extra)


def test_a_call_runs_under_the_connections_deadline(
    make_conn: ConnFactory, deadlines: list[Deadline]
) -> None:
    ClinicalOneHook(_conn(make_conn, deadline=42)).get_rerun_history(STUDY, "test", RULE_A)
    left = _left(deadlines)
    assert left is not None and 41.5 < left <= 42.0


def test_time_limit_bounds_calls_by_the_seconds_left_plus_one_request_timeout(
    make_conn: ConnFactory, deadlines: list[Deadline]
) -> None:
    hook = ClinicalOneHook(_conn(make_conn, timeout=7))
    with hook.time_limit(3.0):
        hook.get_rerun_history(STUDY, "test", RULE_A)
    left = _left(deadlines)
    assert left is not None and 9.5 < left <= 10.0


def test_time_limit_of_a_passed_deadline_still_lets_one_request_timeout_run(
    make_conn: ConnFactory, deadlines: list[Deadline]
) -> None:
    hook = ClinicalOneHook(_conn(make_conn, timeout=2))
    with hook.time_limit(-50.0):
        hook.get_rerun_history(STUDY, "test", RULE_A)
    left = _left(deadlines)
    assert left is not None and 1.5 < left <= 2.0


def test_time_limit_none_keeps_the_connections_deadline(
    make_conn: ConnFactory, deadlines: list[Deadline]
) -> None:
    hook = ClinicalOneHook(_conn(make_conn, deadline=42))
    with hook.time_limit(None):
        hook.get_rerun_history(STUDY, "test", RULE_A)
    left = _left(deadlines)
    assert left is not None and 41.5 < left <= 42.0


def test_time_limit_keeps_an_enclosing_earlier_limit_and_ends_with_its_block(
    make_conn: ConnFactory, deadlines: list[Deadline]
) -> None:
    hook = ClinicalOneHook(_conn(make_conn, timeout=1, deadline=42))
    with hook.time_limit(0.0), hook.time_limit(100.0):
        hook.get_rerun_history(STUDY, "test", RULE_A)
    hook.get_rerun_history(STUDY, "test", RULE_A)
    inner, after = (d.left() for d in deadlines)
    assert inner is not None and inner <= 1.0
    assert after is not None and after > 41.0
