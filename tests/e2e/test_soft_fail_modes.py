"""End to end: with ``soft_fail=True`` a rule job that fails skips the rule-job sensor in poke,
reschedule and deferrable mode alike, under real Airflow (``dag.test()``, deferral and
rescheduling included) against the simulator over loopback HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from clinical_rules_provider.testing import EXAMPLE_STUDY_ID, LiveSimulator, SimulatorState
from tests.e2e.test_example_dags import MODE, explain, run_dag, states

pytestmark = pytest.mark.e2e

MODES = ("poke", "reschedule", "deferrable")

DAG_FILE = """
from datetime import timedelta

import pendulum
from airflow.sdk import dag

from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={"poke": "", "reschedule": "", "deferrable": "", "started_after": ""},
)
def soft_fail_modes():
    for mode in ("poke", "reschedule", "deferrable"):
        ClinicalOneRuleJobSensor(
            task_id=mode,
            rule_ids="{{ params.%s }}" % mode,
            started_after="{{ params.started_after }}",
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
            poll_interval=1,
            timeout=120,
            soft_fail=True,
        )


soft_fail_modes()
"""


@pytest.fixture
def sim() -> Iterator[LiveSimulator]:
    with LiveSimulator(SimulatorState()) as live:
        yield live


def fail_each_job_after_its_first_poll(
    sim: LiveSimulator, rules: dict[str, Any], stop: threading.Event
) -> None:
    """Each rule's job runs until the sensor has seen it running once, then ends ``Failed``."""
    pending = dict(rules)
    while pending and not stop.is_set():
        for rule_id, job in list(pending.items()):
            if sim.state.requests_to(f"rerunhistory/{rule_id}"):
                time.sleep(0.5)  # let that poll's reply go out first
                job.fixed_status = "Failed"
                del pending[rule_id]
        time.sleep(0.1)


def test_soft_fail_skips_a_failed_rule_job_in_poke_reschedule_and_deferrable_mode(
    airflow_env: dict[str, str], sim: LiveSimulator, tmp_path: Path
) -> None:
    (tmp_path / "soft_fail_modes.py").write_text(DAG_FILE)
    started_after = pendulum.now("UTC").subtract(seconds=1)
    rules = {mode: sim.state.add_rule(EXAMPLE_STUDY_ID, MODE) for mode in MODES}
    jobs = {rule.rule_id: sim.state.start_job(rule, stuck=True) for rule in rules.values()}
    stop = threading.Event()
    flipper = threading.Thread(target=fail_each_job_after_its_first_poll, args=(sim, jobs, stop))
    flipper.start()
    try:
        conf = {mode: rule.rule_id for mode, rule in rules.items()}
        env = {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path)}
        result = run_dag(env, sim, "soft_fail_modes", {**conf, "started_after": started_after.isoformat()})
    finally:
        stop.set()
        flipper.join()
    assert states(result) == dict.fromkeys(MODES, "skipped"), explain(result)
    assert result["triggers"] == ["ClinicalOneRuleJobTrigger"]  # the deferrable one deferred
    for mode, rule in rules.items():  # each saw its job running before it failed
        assert len(sim.state.requests_to(f"rerunhistory/{rule.rule_id}")) >= 2, mode
    assert all(info["try_number"] == 1 for info in result["tasks"].values())
