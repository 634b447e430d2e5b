"""ServiceHook (``hooks/base.py``): what both hooks share, tested through ClinicalOneHook."""

from __future__ import annotations

import time

import pytest

from clinical_rules_provider.exceptions import DeadlineExceededError
from clinical_rules_provider.hooks import _limits
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from tests.conftest import ConnFactory


def test_time_limit_bounds_calls_by_the_seconds_left_plus_one_request_timeout(make_conn: ConnFactory) -> None:
    conn = make_conn("c1_limit", "clinical_one", "c1.test", login="u", password="p", extra={"timeout": 7})
    hook = ClinicalOneHook(conn)
    with hook.time_limit(3.0):
        left = _limits.remaining()
    assert left is not None and 9.5 < left <= 10.0


def test_time_limit_of_a_passed_deadline_still_lets_one_request_timeout_run(make_conn: ConnFactory) -> None:
    conn = make_conn("c1_limit", "clinical_one", "c1.test", login="u", password="p", extra={"timeout": 2})
    with ClinicalOneHook(conn).time_limit(-50.0):
        left = _limits.remaining()
    assert left is not None and 1.5 < left <= 2.0


def test_time_limit_none_adds_no_bound(make_conn: ConnFactory) -> None:
    conn = make_conn("c1_limit", "clinical_one", "c1.test", login="u", password="p")
    with ClinicalOneHook(conn).time_limit(None):
        assert _limits.remaining() is None


def test_time_limit_keeps_an_enclosing_earlier_deadline(make_conn: ConnFactory) -> None:
    conn = make_conn("c1_limit", "clinical_one", "c1.test", login="u", password="p", extra={"timeout": 60})
    with _limits.call_deadline(0.0), ClinicalOneHook(conn).time_limit(100.0):
        time.sleep(0.01)
        with pytest.raises(DeadlineExceededError):
            _limits.check_deadline("poll")
