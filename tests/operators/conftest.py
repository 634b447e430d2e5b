"""Fixtures for operator, sensor and trigger unit tests: simulator connections and a fake TI.

The sensor and trigger test packages re-export these fixtures from their own conftest.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from tests.conftest import STUDY, ConnFactory

if TYPE_CHECKING:
    from clinical_rules_provider.testing.server import LiveSimulator

C1_LOGIN, C1_PASSWORD = "demo-user", "demo-password"
VAULT_LOGIN, VAULT_PASSWORD = "integration@sim.example", "sim-password"


class FakeTI:
    """Records ``xcom_push`` calls; ``xcom_pull`` answers from ``pulls`` by key and records the call."""

    def __init__(self, pulls: dict[str, Any] | None = None) -> None:
        self.pushes: list[tuple[str, Any]] = []
        self.pulls = pulls or {}
        self.pull_calls: list[dict[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushes.append((key, value))

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **kwargs: Any) -> Any:
        self.pull_calls.append({"task_ids": task_ids, "key": key, **kwargs})
        return self.pulls.get(key)

    def pushed(self, key: str) -> Any:
        """The last value pushed under ``key`` (KeyError when never pushed)."""
        for pushed_key, value in reversed(self.pushes):
            if pushed_key == key:
                return value
        raise KeyError(key)

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.pushes]


def make_context(ti: FakeTI, data_interval_start: datetime | None = None) -> dict[str, Any]:
    start = data_interval_start or pendulum.now("UTC")
    return {"ti": ti, "data_interval_start": start, "logical_date": start}


@pytest.fixture
def ti() -> FakeTI:
    return FakeTI()


@pytest.fixture
def context(ti: FakeTI) -> dict[str, Any]:
    """A context whose data interval starts now (older jobs do not count)."""
    return make_context(ti)


def hours_ago(hours: float) -> datetime:
    return pendulum.now("UTC") - timedelta(hours=hours)


@pytest.fixture
def sim_c1(simulator: LiveSimulator, make_conn: ConnFactory) -> str:
    """A ``clinical_one`` connection to the live simulator with study/mode defaults in the extra."""
    return make_conn(
        "sim_c1",
        "clinical_one",
        simulator.url,
        login=C1_LOGIN,
        password=C1_PASSWORD,
        extra={"study_id": STUDY, "study_mode": "test"},
    )


@pytest.fixture
def sim_c1_no_retry(simulator: LiveSimulator, make_conn: ConnFactory) -> str:
    """Like ``sim_c1`` but a single transient fault is not retried by the transport."""
    return make_conn(
        "sim_c1_no_retry",
        "clinical_one",
        simulator.url,
        login=C1_LOGIN,
        password=C1_PASSWORD,
        extra={"study_id": STUDY, "study_mode": "test", "max_retries": 0},
    )


@pytest.fixture
def sim_vault(simulator: LiveSimulator, make_conn: ConnFactory) -> str:
    """A ``veeva_vault`` connection to the live simulator."""
    return make_conn("sim_vault", "veeva_vault", simulator.url, login=VAULT_LOGIN, password=VAULT_PASSWORD)


@pytest.fixture
def sim_vault_no_retry(simulator: LiveSimulator, make_conn: ConnFactory) -> str:
    return make_conn(
        "sim_vault_no_retry",
        "veeva_vault",
        simulator.url,
        login=VAULT_LOGIN,
        password=VAULT_PASSWORD,
        extra={"max_retries": 0},
    )


@pytest.fixture
def fast_jobs(simulator: LiveSimulator) -> LiveSimulator:
    """New rule jobs go Pending -> Running -> outcome within ~0.15 s."""
    simulator.state.pending_seconds = 0.05
    simulator.state.running_seconds = 0.1
    return simulator


@pytest.fixture
def slow_jobs(simulator: LiveSimulator) -> LiveSimulator:
    """New rule jobs stay Running for a minute (long enough for any test)."""
    simulator.state.pending_seconds = 0.0
    simulator.state.running_seconds = 60.0
    return simulator


@pytest.fixture
def fast_vault_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the 10 s per-job Vault status interval so a test may read a job twice quickly."""
    from clinical_rules_provider.hooks import vault as vault_hook
    from clinical_rules_provider.triggers import _checks

    monkeypatch.setattr(vault_hook, "JOB_STATUS_MIN_INTERVAL", 0.0)
    monkeypatch.setattr(_checks, "VAULT_POLL_FLOOR", 0.01)


@pytest.fixture(autouse=True)
def _fast_rule_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulator jobs finish in a fraction of a second: allow polls below the 1 s floor."""
    from clinical_rules_provider import task_helpers

    monkeypatch.setattr(task_helpers, "MIN_RULE_POLL_INTERVAL", 0.01)
