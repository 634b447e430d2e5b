"""The scheduler race of apache/airflow #66374 on the real stack, with the provider's first-poll delay.

Without the delay (``first_poll_delay=0``) about one run in six failed on a busy 2-core
machine; ``python -m tests.stack.client .stack-test 20 0`` measures that on a running stack
(docs/running-at-scale.md has the numbers).
"""

from __future__ import annotations

import pytest

from tests.stack.client import Airflow, race_runs

pytestmark = pytest.mark.stack


def test_quick_deferred_waits_are_not_failed_by_the_scheduler(airflow: Airflow) -> None:
    # ~2 s jobs, poll_interval=2: before issue 16 the trigger fired within seconds of defer().
    assert race_runs(airflow, runs=8, batch=4, first_poll_delay=None) == []
