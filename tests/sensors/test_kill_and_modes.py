"""Both job sensors: cancel on kill in poke mode, the mode / deferrable guard, templated poll intervals."""

from __future__ import annotations

import pytest

from clinical_rules_provider._compat import TaskDeferred
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
from clinical_rules_provider.sensors.vault_job import VaultJobSensor
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import STUDY
from tests.operators.conftest import FakeTI, hours_ago, make_context

STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h, cancellable
QUEUED_STALE = 1046892


def _running(simulator: LiveSimulator) -> str:
    job = simulator.state.latest_job(STUDY, "test", STALE_RULE)
    assert job is not None
    return simulator.state.job_status(job)


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_rule_job_sensor_on_kill_cancels_only_when_asked(
    sim_c1: str, simulator: LiveSimulator, cancel_on_kill: bool
) -> None:
    task = ClinicalOneRuleJobSensor(
        task_id="wait",
        rule_ids=[STALE_RULE],
        started_after=hours_ago(4),
        cancel_on_kill=cancel_on_kill,
        clinical_one_conn_id=sim_c1,
    )
    assert not task.poke(make_context(FakeTI())).is_done
    task.on_kill()
    assert _running(simulator) == ("Cancelled" if cancel_on_kill else "Running")


def test_rule_job_sensor_on_kill_before_any_poke_does_nothing(sim_c1: str, simulator: LiveSimulator) -> None:
    task = ClinicalOneRuleJobSensor(
        task_id="wait", rule_ids=[STALE_RULE], cancel_on_kill=True, clinical_one_conn_id=sim_c1
    )
    task.on_kill()
    assert _running(simulator) == "Running"


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_vault_job_sensor_on_kill_cancels_only_when_asked(
    sim_vault: str, simulator: LiveSimulator, cancel_on_kill: bool
) -> None:
    task = VaultJobSensor(
        task_id="wait", job_ids=[QUEUED_STALE], cancel_on_kill=cancel_on_kill, vault_conn_id=sim_vault
    )
    task.on_kill()
    job = simulator.state.vault_job(QUEUED_STALE)
    assert job is not None
    assert (job.status in ("CANCELLING", "CANCELLED")) is cancel_on_kill


@pytest.mark.parametrize("sensor_class", [ClinicalOneRuleJobSensor, VaultJobSensor])
def test_deferrable_and_reschedule_together_are_refused(sensor_class: type) -> None:
    ids = {"rule_ids": [STALE_RULE]} if sensor_class is ClinicalOneRuleJobSensor else {"job_ids": [1]}
    with pytest.raises(ValueError, match="deferrable / mode"):
        sensor_class(task_id="wait", deferrable=True, mode="reschedule", **ids)


def test_vault_sensor_never_polls_faster_than_vault_allows() -> None:
    assert VaultJobSensor(task_id="wait", job_ids=[1], poke_interval=1).poke_interval == 10.0


def test_a_templated_poll_interval_is_checked_and_applied_when_the_task_runs(sim_c1: str) -> None:
    task = ClinicalOneRuleJobSensor(
        task_id="wait",
        rule_ids=[STALE_RULE],
        started_after=hours_ago(4),
        poll_interval="{{ params.poll_seconds }}",
        deferrable=True,
        clinical_one_conn_id=sim_c1,
    )
    task.poll_interval = "7"  # what the template rendered (non-native rendering gives a string)
    with pytest.raises(TaskDeferred) as caught:
        task.execute(make_context(FakeTI()))
    assert caught.value.trigger.poll_interval == 7.0
    assert task.poke_interval == 7.0


def test_a_rendered_vault_poll_interval_is_still_at_least_ten_seconds() -> None:
    task = VaultJobSensor(task_id="wait", job_ids=[1], poll_interval="{{ params.poll_seconds }}")
    task.poll_interval = 2
    task.apply_poll_interval()
    assert task.poll_interval == 10.0 and task.poke_interval == 10.0


def test_a_rendered_poll_interval_that_is_no_number_is_refused_naming_the_field(sim_c1: str) -> None:
    task = ClinicalOneRuleJobSensor(
        task_id="wait", rule_ids=[STALE_RULE], poll_interval="{{ params.x }}", clinical_one_conn_id=sim_c1
    )
    task.poll_interval = "soon"
    with pytest.raises(ValueError, match=r"^poll_interval: "):
        task.execute(make_context(FakeTI()))
