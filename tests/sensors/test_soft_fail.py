"""A job that ended in a failure status fails both sensors the same way in poke, reschedule
and deferrable mode: ``AirflowFailException`` (no retries), and a skip with ``soft_fail``."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import BaseSensorOperator

from clinical_rules_provider._compat import AirflowFailException
from clinical_rules_provider.exceptions import ClinicalRulesError
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
from clinical_rules_provider.sensors.vault_job import VaultJobSensor
from tests.conftest import RULE_C, ConnFactory
from tests.operators.conftest import FakeTI, hours_ago, make_context

try:  # Airflow 3.1+
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef,attr-defined]

FAILING_RULE = RULE_C  # seeded: latest job Failed, one day ago
STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h
ERRORED_VAULT_JOB = 1040002
RUNNING_VAULT_JOB = 1068337

# "deferred" runs the first poke, which already sees the failure, inside a deferrable execute;
# "resumed" is the same sensor after its trigger reported the failure.
MODES = ["poke", "reschedule", "deferred", "resumed"]


class RescheduleTI(FakeTI):
    """Reschedule mode asks the task instance when the first try started."""

    def get_first_reschedule_date(self, context: Any) -> None:
        return None


def rule_sensor(conn_id: str, mode: str, **kwargs: Any) -> ClinicalOneRuleJobSensor:
    return ClinicalOneRuleJobSensor(
        task_id="wait",
        rule_ids=[FAILING_RULE],
        started_after=hours_ago(48),
        clinical_one_conn_id=conn_id,
        mode="reschedule" if mode == "reschedule" else "poke",
        deferrable=mode in ("deferred", "resumed"),
        **kwargs,
    )


def vault_sensor(conn_id: str, mode: str, **kwargs: Any) -> VaultJobSensor:
    return VaultJobSensor(
        task_id="wait",
        job_ids=[ERRORED_VAULT_JOB],
        vault_conn_id=conn_id,
        mode="reschedule" if mode == "reschedule" else "poke",
        deferrable=mode in ("deferred", "resumed"),
        **kwargs,
    )


def run(task: BaseSensorOperator, mode: str, failure_message: str, status: str = "failure") -> Any:
    """Run ``task`` as Airflow would in ``mode``: its execute, or its resume after a trigger event."""
    context = make_context(RescheduleTI())
    if mode == "resumed":
        event = {"status": status, "message": failure_message, "outcome": {}}
        return task.resume_execution("execute_complete", {"event": event}, context)  # type: ignore[arg-type]
    return task.execute(context)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
def test_rule_job_failure_raises_airflow_fail_exception_in_every_mode(sim_c1: str, mode: str) -> None:
    with pytest.raises(AirflowFailException, match=FAILING_RULE):
        run(rule_sensor(sim_c1, mode), mode, f"1 rule job(s) ended in a failure status: {FAILING_RULE}")


@pytest.mark.parametrize("mode", MODES)
def test_rule_job_failure_with_soft_fail_skips_in_every_mode(sim_c1: str, mode: str) -> None:
    with pytest.raises(AirflowSkipException) as caught:
        run(rule_sensor(sim_c1, mode, soft_fail=True), mode, f"{FAILING_RULE}: Failed")
    assert isinstance(caught.value.__cause__, AirflowFailException)


@pytest.mark.parametrize("mode", MODES)
def test_vault_job_failure_raises_airflow_fail_exception_in_every_mode(sim_vault: str, mode: str) -> None:
    with pytest.raises(AirflowFailException, match=f"job {ERRORED_VAULT_JOB}: ERRORS_ENCOUNTERED"):
        run(vault_sensor(sim_vault, mode), mode, f"job {ERRORED_VAULT_JOB}: ERRORS_ENCOUNTERED")


@pytest.mark.parametrize("mode", MODES)
def test_vault_job_failure_with_soft_fail_skips_in_every_mode(sim_vault: str, mode: str) -> None:
    with pytest.raises(AirflowSkipException) as caught:
        run(vault_sensor(sim_vault, mode, soft_fail=True), mode, "job 1: CANCELLED")
    assert isinstance(caught.value.__cause__, AirflowFailException)


def test_direct_poke_of_a_deferrable_sensor_only_polls(sim_c1: str) -> None:
    task = ClinicalOneRuleJobSensor(
        task_id="wait",
        rule_ids=[STALE_RULE],
        started_after=hours_ago(4),
        clinical_one_conn_id=sim_c1,
        deferrable=True,
    )
    assert task.poke(make_context(FakeTI())).is_done is False  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["poke", "resumed"])
def test_service_error_is_not_skipped_by_soft_fail_in_any_mode(
    simulator: Any, make_conn: ConnFactory, mode: str
) -> None:
    conn = make_conn(
        "c1_bad",
        "clinical_one",
        simulator.url,
        login="demo-user",
        password="wrong",
        extra={"study_id": "36753A48BBA048CB98A5F3278146118D", "study_mode": "test", "max_retries": 0},
    )
    with pytest.raises(ClinicalRulesError):
        run(rule_sensor(conn, mode, soft_fail=True), mode, "credentials refused", status="error")
