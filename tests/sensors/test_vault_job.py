"""VaultJobSensor against the live simulator: poke, interval floor, deferral, completion."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from clinical_rules_provider._compat import AirflowException, AirflowSensorTimeout, TaskDeferred
from clinical_rules_provider.sensors.vault_job import VaultJobSensor
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers.vault_job import VaultJobTrigger
from tests.operators.conftest import FakeTI, make_context

QUEUED_STALE = 1046892
RUNNING_STALE = 1068337
SUCCEEDED = 1040001
ERRORED = 1040002
CANCELLED = 1040003


def sensor(conn_id: str, job_ids: object, **kwargs: object) -> VaultJobSensor:
    return VaultJobSensor(task_id="wait_vault", job_ids=job_ids, vault_conn_id=conn_id, **kwargs)  # type: ignore[arg-type]


def test_poke_is_true_when_every_job_succeeded(sim_vault: str) -> None:
    assert bool(sensor(sim_vault, [SUCCEEDED, str(SUCCEEDED)]).poke(make_context(FakeTI()))) is True


def test_poke_is_false_while_a_job_is_still_running(sim_vault: str) -> None:
    assert bool(sensor(sim_vault, [SUCCEEDED, RUNNING_STALE]).poke(make_context(FakeTI()))) is False


def test_poke_raises_naming_each_failed_job_and_status(sim_vault: str) -> None:
    with pytest.raises(AirflowException) as caught:
        sensor(sim_vault, [SUCCEEDED, ERRORED, CANCELLED]).poke(make_context(FakeTI()))
    message = str(caught.value)
    assert f"job {ERRORED}: ERRORS_ENCOUNTERED" in message
    assert f"job {CANCELLED}: CANCELLED" in message
    assert str(SUCCEEDED) not in message


def test_cancelled_job_passes_when_not_a_failure_status(sim_vault: str) -> None:
    task = sensor(sim_vault, [CANCELLED], failure_statuses=["ERRORS_ENCOUNTERED"])
    assert bool(task.poke(make_context(FakeTI()))) is True


def test_cancelled_job_fails_once_cancelling_completes(sim_vault: str, simulator: LiveSimulator) -> None:
    simulator.state.cancelling_seconds = 0.0
    assert simulator.state.cancel_vault_job(QUEUED_STALE)
    with pytest.raises(AirflowException, match="CANCELLED"):
        sensor(sim_vault, [QUEUED_STALE]).poke(make_context(FakeTI()))


def test_transient_error_makes_poke_return_false(
    sim_vault_no_retry: str, simulator: LiveSimulator, fast_vault_status: None
) -> None:
    simulator.state.faults.configure(path_filter=rf"/services/jobs/{SUCCEEDED}$")
    simulator.state.faults.enqueue("503")
    task = sensor(sim_vault_no_retry, [SUCCEEDED])
    assert bool(task.poke(make_context(FakeTI()))) is False
    assert simulator.state.faults.injected["503"] == 1
    assert bool(task.poke(make_context(FakeTI()))) is True


def test_poll_interval_is_clamped_to_ten_seconds() -> None:
    task = VaultJobSensor(task_id="wait_vault", job_ids=[1], poll_interval=1)
    assert task.poll_interval == 10.0
    assert task.poke_interval == 10.0


def test_poll_interval_above_the_floor_is_kept() -> None:
    task = VaultJobSensor(task_id="wait_vault", job_ids=[1], poll_interval=timedelta(minutes=2))
    assert task.poll_interval == 120.0 and task.poke_interval == 120.0


def test_bad_failure_statuses_are_rejected_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="failure_statuses"):
        VaultJobSensor(task_id="wait_vault", job_ids=[1], failure_statuses=["RUNNING"])


def test_bad_job_ids_are_rejected_before_any_request(sim_vault: str, simulator: LiveSimulator) -> None:
    with pytest.raises(ValueError, match="job_ids"):
        sensor(sim_vault, ["not-a-job"]).poke(make_context(FakeTI()))
    assert simulator.state.request_count == 0


def test_deferrable_defers_with_a_trigger_carrying_every_parameter(sim_vault: str) -> None:
    task = sensor(
        sim_vault,
        [str(RUNNING_STALE)],
        deferrable=True,
        failure_statuses=["TIMEOUT"],
        poll_interval=15,
        cancel_on_kill=True,
        timeout=900,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as caught:
        task.execute(make_context(FakeTI()))
    trigger = caught.value.trigger
    assert isinstance(trigger, VaultJobTrigger)
    assert caught.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    end_time = kwargs.pop("end_time")
    assert before + 900 <= end_time <= time.time() + 900
    assert kwargs == {
        "job_ids": [RUNNING_STALE],
        "failure_statuses": ["TIMEOUT"],
        "poll_interval": 15.0,
        "vault_conn_id": sim_vault,
        "cancel_on_kill": True,
        "first_poll_delay": 15.0,  # it has just poked: the trigger's first poll waits an interval
    }


def test_deferrable_does_not_defer_when_already_done(sim_vault: str) -> None:
    outcome = sensor(sim_vault, [SUCCEEDED], deferrable=True).execute(make_context(FakeTI()))
    assert outcome == {"succeeded": {str(SUCCEEDED): "SUCCESS"}, "failed": {}, "waiting": {}}


def test_execute_complete_returns_the_outcome_on_success() -> None:
    outcome = {"succeeded": {"1": "SUCCESS"}, "failed": {}, "waiting": {}}
    task = VaultJobSensor(task_id="wait_vault", job_ids=[1])
    assert task.execute_complete({}, {"status": "success", "message": "ok", "outcome": outcome}) == outcome


def test_execute_complete_raises_with_the_failure_details() -> None:
    task = VaultJobSensor(task_id="wait_vault", job_ids=[1])
    with pytest.raises(AirflowException, match="job 1: CANCELLED") as caught:
        task.execute_complete({}, {"status": "failure", "message": "1 Vault job(s) ...: job 1: CANCELLED"})
    assert not isinstance(caught.value, AirflowSensorTimeout)


def test_execute_complete_raises_sensor_timeout_on_timeout() -> None:
    task = VaultJobSensor(task_id="wait_vault", job_ids=[1])
    with pytest.raises(AirflowSensorTimeout, match="job 1: RUNNING"):
        task.execute_complete({}, {"status": "timeout", "message": "timed out: job 1: RUNNING"})


def test_one_job_id_string_is_watched_like_a_list_of_one(sim_vault: str) -> None:
    result = sensor(sim_vault, str(SUCCEEDED)).poke(make_context(FakeTI()))
    assert result.xcom_value["succeeded"] == {str(SUCCEEDED): "SUCCESS"}


def test_comma_separated_job_ids_are_each_watched(sim_vault: str) -> None:
    with pytest.raises(AirflowException, match=f"job {ERRORED}: ERRORS_ENCOUNTERED"):
        sensor(sim_vault, f"{SUCCEEDED},{ERRORED}").poke(make_context(FakeTI()))


def test_a_json_list_of_job_ids_reaches_the_trigger_as_ints(sim_vault: str) -> None:
    with pytest.raises(TaskDeferred) as caught:
        sensor(sim_vault, f"[{SUCCEEDED}, {RUNNING_STALE}]", deferrable=True).execute(make_context(FakeTI()))
    assert caught.value.trigger.job_ids == [SUCCEEDED, RUNNING_STALE]


@pytest.mark.usefixtures("fast_vault_status")
def test_a_later_poke_validates_no_job_id_again(sim_vault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinical_rules_provider.models import refs

    task = sensor(sim_vault, f"{SUCCEEDED},{RUNNING_STALE}")
    context = make_context(FakeTI())
    assert bool(task.poke(context)) is False  # the first poke checks the ids for this execution
    calls: list[object] = []
    real = refs.vault_job_id

    def counting(job_id: object, field: str) -> int:
        calls.append(job_id)
        return real(job_id, field)

    monkeypatch.setattr(refs, "vault_job_id", counting)
    assert bool(task.poke(context)) is False
    assert calls == []  # the hook trusts the checked ids (VaultJobIds) the sensor hands it
