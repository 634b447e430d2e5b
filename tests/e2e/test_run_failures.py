"""End to end: a DAG run whose task fails ends within a minute, despite a production retry
delay, and the assertion message carries the task's own exception."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clinical_rules_provider.testing import LiveSimulator, SimulatorState
from tests.e2e.test_example_dags import explain, run_dag, states

pytestmark = pytest.mark.e2e

DAG_FILE = """
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
)
def always_fails():
    @task
    def broken():
        raise ValueError("the marker exception of test_run_failures")

    broken()


always_fails()
"""


@pytest.fixture
def sim() -> Iterator[LiveSimulator]:
    with LiveSimulator(SimulatorState()) as live:
        yield live


def test_a_failing_task_ends_the_run_within_a_minute_and_explain_shows_its_exception(
    airflow_env: dict[str, str], sim: LiveSimulator, tmp_path: Path
) -> None:
    (tmp_path / "always_fails.py").write_text(DAG_FILE)
    env = {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path)}
    started = time.monotonic()
    result = run_dag(env, sim, "always_fails", timeout=60)
    assert time.monotonic() - started < 60
    assert states(result) == {"broken": "failed"}
    assert result["tasks"]["broken"]["try_number"] == 3  # the retries ran, a second apart
    message = explain(result)
    assert "ValueError: the marker exception of test_run_failures" in message
    assert message.count("Task failed with exception") == 3
