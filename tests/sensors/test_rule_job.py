"""ClinicalOneRuleJobSensor against the live simulator: poke, threshold, deferral, completion."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from clinical_rules_provider._compat import AirflowException, AirflowSensorTimeout, TaskDeferred
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger
from tests.conftest import RULE_A, RULE_B, RULE_C, STUDY, ConnFactory
from tests.operators.conftest import FakeTI, hours_ago, make_context

STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h
FAILING_RULE = RULE_C  # seeded: latest job Failed, one day ago
OLD_SUCCESS_RULE = RULE_B  # seeded: latest job Success, two days ago


def sensor(conn_id: str, rule_ids: list[str], **kwargs: Any) -> ClinicalOneRuleJobSensor:
    kwargs.setdefault("task_id", "wait")
    return ClinicalOneRuleJobSensor(rule_ids=rule_ids, clinical_one_conn_id=conn_id, **kwargs)


# --- poke --------------------------------------------------------------------------------


def test_poke_is_false_while_the_job_runs_and_true_once_it_succeeded(
    sim_c1: str, simulator: LiveSimulator
) -> None:
    simulator.state.pending_seconds = 0.05
    simulator.state.running_seconds = 0.3
    started_after = pendulum.now("UTC") - timedelta(seconds=1)  # RULE_A has no earlier job
    ClinicalOneHook(sim_c1).update_publish_run(STUDY, "test", "AllData", [RULE_A])
    task = sensor(sim_c1, [RULE_A], started_after=started_after)
    assert bool(task.poke(make_context(FakeTI()))) is False
    time.sleep(0.5)
    assert bool(task.poke(make_context(FakeTI()))) is True


def test_old_successful_job_does_not_satisfy_the_sensor(sim_c1: str) -> None:
    task = sensor(sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(1))
    assert bool(task.poke(make_context(FakeTI()))) is False


def test_relevant_successful_job_satisfies_the_sensor(sim_c1: str) -> None:
    task = sensor(sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(72).isoformat())
    assert bool(task.poke(make_context(FakeTI()))) is True


def test_rule_without_any_job_keeps_the_sensor_waiting(sim_c1: str) -> None:
    assert bool(sensor(sim_c1, [RULE_A], started_after=hours_ago(72)).poke(make_context(FakeTI()))) is False


def test_poke_raises_naming_the_rule_and_status_on_failure(sim_c1: str) -> None:
    task = sensor(sim_c1, [OLD_SUCCESS_RULE, FAILING_RULE], started_after=hours_ago(48))
    with pytest.raises(AirflowException) as caught:
        task.poke(make_context(FakeTI()))
    assert FAILING_RULE in str(caught.value) and "Failed" in str(caught.value)
    assert OLD_SUCCESS_RULE not in str(caught.value)


def test_job_ids_pick_the_job_even_if_it_is_older_than_started_after(
    sim_c1: str, simulator: LiveSimulator
) -> None:
    rule = simulator.state.rule(STUDY, "test", OLD_SUCCESS_RULE)
    assert rule is not None
    task = sensor(
        sim_c1, [OLD_SUCCESS_RULE], job_ids=[rule.jobs[-1].job_id], started_after=pendulum.now("UTC")
    )
    assert bool(task.poke(make_context(FakeTI()))) is True


def test_job_status_endpoint_gives_the_same_answer(sim_c1: str, simulator: LiveSimulator) -> None:
    task = sensor(sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(72), poll_endpoint="job_status")
    assert bool(task.poke(make_context(FakeTI()))) is True
    assert simulator.state.requests_to("rerunhistory") == []


def test_transient_error_makes_poke_return_false(sim_c1_no_retry: str, simulator: LiveSimulator) -> None:
    simulator.state.faults.enqueue("503")
    task = sensor(sim_c1_no_retry, [OLD_SUCCESS_RULE], started_after=hours_ago(72))
    assert bool(task.poke(make_context(FakeTI()))) is False
    assert simulator.state.faults.injected["503"] == 1
    assert bool(task.poke(make_context(FakeTI()))) is True


def _bad_password_conn(simulator: LiveSimulator, make_conn: ConnFactory) -> str:
    return make_conn(
        "sim_c1_bad_password",
        "clinical_one",
        simulator.url,
        login="demo-user",
        password="wrong-password",
        extra={"study_id": STUDY, "study_mode": "test"},
    )


def test_non_transient_error_is_not_swallowed(simulator: LiveSimulator, make_conn: ConnFactory) -> None:
    from clinical_rules_provider.exceptions import ClinicalRulesError, TransientServiceError

    task = sensor(_bad_password_conn(simulator, make_conn), [OLD_SUCCESS_RULE], started_after=hours_ago(72))
    with pytest.raises(ClinicalRulesError, match="401") as caught:
        task.poke(make_context(FakeTI()))
    assert not isinstance(caught.value, TransientServiceError)


def test_refused_credentials_surface_as_authentication_error(
    simulator: LiveSimulator, make_conn: ConnFactory
) -> None:
    # DESIGN: AuthenticationError means "credentials were refused". The simulator answers a bad
    # Basic login with HTTP 401 and an errorCode envelope ("AUTH-401").
    from clinical_rules_provider.exceptions import AuthenticationError

    task = sensor(_bad_password_conn(simulator, make_conn), [OLD_SUCCESS_RULE], started_after=hours_ago(72))
    with pytest.raises(AuthenticationError):
        task.poke(make_context(FakeTI()))


def test_custom_failure_statuses_let_a_cancelled_job_pass(sim_c1: str, simulator: LiveSimulator) -> None:
    ClinicalOneHook(sim_c1).cancel_rule_jobs(STUDY, "test", [STALE_RULE])
    default = sensor(sim_c1, [STALE_RULE], started_after=hours_ago(4))
    with pytest.raises(AirflowException, match="Cancelled"):
        default.poke(make_context(FakeTI()))
    lenient = sensor(sim_c1, [STALE_RULE], started_after=hours_ago(4), failure_statuses=["Failed"])
    assert bool(lenient.poke(make_context(FakeTI()))) is True


def test_study_and_mode_default_to_the_connection_extra(sim_c1: str, simulator: LiveSimulator) -> None:
    sensor(sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(72)).poke(make_context(FakeTI()))
    [request] = simulator.state.requests_to("rerunhistory")
    assert f"/studies/{STUDY}/test/" in request.path


# --- default threshold -------------------------------------------------------------------


def _sensor_after_publish(conn_id: str) -> ClinicalOneRuleJobSensor:
    with DAG("rule_job_sensor_threshold", schedule=None):
        publish = ClinicalOneUpdatePublishRunOperator(
            task_id="publish", publish_run="AllData", rule_ids=[OLD_SUCCESS_RULE]
        )
        wait = sensor(conn_id, [OLD_SUCCESS_RULE])
        publish >> wait
    return wait


def test_threshold_defaults_to_the_upstream_started_after_xcom(sim_c1: str) -> None:
    task = _sensor_after_publish(sim_c1)
    ti = FakeTI(pulls={"started_after": [hours_ago(72).isoformat()]})
    # The data interval starts now: only the upstream XCom can make the old job count.
    assert bool(task.poke(make_context(ti, pendulum.now("UTC")))) is True
    assert ti.pull_calls == [{"task_ids": ["publish"], "key": "started_after"}]


def test_upstream_started_after_xcom_wins_over_an_older_data_interval(sim_c1: str) -> None:
    task = _sensor_after_publish(sim_c1)
    ti = FakeTI(pulls={"started_after": [hours_ago(1).isoformat()]})
    assert bool(task.poke(make_context(ti, hours_ago(72)))) is False


def test_threshold_falls_back_to_the_data_interval_start(sim_c1: str) -> None:
    task = _sensor_after_publish(sim_c1)
    assert bool(task.poke(make_context(FakeTI(pulls={"started_after": [None]}), hours_ago(72)))) is True
    assert bool(task.poke(make_context(FakeTI(pulls={"started_after": [None]}), hours_ago(1)))) is False


def test_threshold_without_upstream_tasks_is_the_data_interval_start(sim_c1: str) -> None:
    task = sensor(sim_c1, [OLD_SUCCESS_RULE])
    ti = FakeTI()
    assert bool(task.poke(make_context(ti, hours_ago(72)))) is True
    assert bool(task.poke(make_context(ti, hours_ago(1)))) is False
    assert ti.pull_calls == []


def test_explicit_started_after_wins_over_xcom_and_data_interval(sim_c1: str) -> None:
    task = _sensor_after_publish(sim_c1)
    task.started_after = hours_ago(1).isoformat()
    ti = FakeTI(pulls={"started_after": [hours_ago(72).isoformat()]})
    assert bool(task.poke(make_context(ti, hours_ago(72)))) is False


def test_without_any_threshold_the_sensor_fails_naming_started_after(sim_c1: str) -> None:
    # A run without a data interval (Airflow 3 manual runs may have none) and no upstream XCom.
    task = sensor(sim_c1, [OLD_SUCCESS_RULE])
    with pytest.raises(ValueError, match="started_after"):
        task.poke({"ti": FakeTI(), "data_interval_start": None, "logical_date": None})


# --- deferral ----------------------------------------------------------------------------


def test_deferrable_defers_with_a_trigger_carrying_every_parameter(sim_c1: str) -> None:
    started_after = hours_ago(4)
    task = sensor(
        sim_c1,
        [STALE_RULE.lower()],
        started_after=started_after,
        deferrable=True,
        failure_statuses=["Failed", "Rule is invalid"],
        poll_interval=timedelta(seconds=12),
        poll_endpoint="job_status",
        cancel_on_kill=True,
        max_concurrency=3,
        timeout=600,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as caught:
        task.execute(make_context(FakeTI()))
    trigger = caught.value.trigger
    assert isinstance(trigger, ClinicalOneRuleJobTrigger)
    assert caught.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    end_time = kwargs.pop("end_time")
    assert before + 600 <= end_time <= time.time() + 600
    assert kwargs == {
        "study_id": STUDY,
        "study_mode": "test",
        "rule_ids": [STALE_RULE],
        "started_after": started_after.replace(
            microsecond=started_after.microsecond // 1000 * 1000
        ).isoformat(),
        "job_ids": None,
        "failure_statuses": ["Failed", "Rule is invalid"],
        "poll_interval": 12.0,
        "poll_endpoint": "job_status",
        "clinical_one_conn_id": sim_c1,
        "max_concurrency": 3,
        "cancel_on_kill": True,
        "first_poll_delay": 12.0,  # it has just poked: the trigger's first poll waits an interval
    }


def test_deferred_trigger_carries_job_ids_instead_of_started_after(
    sim_c1: str, simulator: LiveSimulator
) -> None:
    job = simulator.state.latest_job(STUDY, "test", STALE_RULE)
    assert job is not None
    task = sensor(sim_c1, [STALE_RULE], job_ids=[job.job_id.lower()], deferrable=True)
    with pytest.raises(TaskDeferred) as caught:
        task.execute(make_context(FakeTI()))
    assert caught.value.trigger.job_ids == [job.job_id]
    assert caught.value.trigger.started_after is None


def test_deferred_trigger_waits_at_least_ten_seconds_before_its_first_poll(sim_c1: str) -> None:
    # A trigger firing within seconds of defer() can make the scheduler fail the resumed task.
    task = sensor(sim_c1, [STALE_RULE], started_after=hours_ago(4), deferrable=True, poll_interval=2)
    with pytest.raises(TaskDeferred) as caught:
        task.execute(make_context(FakeTI()))
    assert caught.value.trigger.first_poll_delay == 10.0
    assert caught.value.trigger.poll_interval == 2.0


def test_deferred_trigger_uses_the_upstream_started_after(sim_c1: str) -> None:
    task = _sensor_after_publish(sim_c1)
    task.deferrable = True
    upstream = hours_ago(0.5).isoformat()
    with pytest.raises(TaskDeferred) as caught:
        task.execute(make_context(FakeTI(pulls={"started_after": [upstream]}), hours_ago(72)))
    delta = pendulum.parse(upstream) - pendulum.parse(caught.value.trigger.started_after)  # floored to the ms
    assert 0 <= delta.total_seconds() < 0.001


def test_deferrable_does_not_defer_when_already_done_and_returns_the_outcome(sim_c1: str) -> None:
    task = sensor(sim_c1, [OLD_SUCCESS_RULE], started_after=hours_ago(72), deferrable=True)
    outcome = task.execute(make_context(FakeTI()))
    assert list(outcome["succeeded"]) == [OLD_SUCCESS_RULE]
    assert outcome["failed"] == {} and outcome["waiting"] == {}


def test_deferrable_raises_at_once_when_the_first_poke_fails(sim_c1: str) -> None:
    task = sensor(sim_c1, [FAILING_RULE], started_after=hours_ago(48), deferrable=True)
    with pytest.raises(AirflowException, match=FAILING_RULE):
        task.execute(make_context(FakeTI()))


# --- execute_complete --------------------------------------------------------------------


def test_execute_complete_returns_the_outcome_on_success() -> None:
    outcome = {"succeeded": {RULE_A: {"job_id": "J", "status": "Success"}}, "failed": {}, "waiting": {}}
    task = ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A])
    assert task.execute_complete({}, {"status": "success", "message": "ok", "outcome": outcome}) == outcome


def test_execute_complete_raises_with_the_failure_details() -> None:
    task = ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A])
    message = f"1 rule job(s) ended in a failure status: {RULE_A} (job J): Failed"
    with pytest.raises(AirflowException, match="ended in a failure status") as caught:
        task.execute_complete({}, {"status": "failure", "message": message, "outcome": {}})
    assert not isinstance(caught.value, AirflowSensorTimeout)
    assert RULE_A in str(caught.value)


def test_execute_complete_raises_sensor_timeout_on_timeout() -> None:
    task = ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A])
    with pytest.raises(AirflowSensorTimeout, match="timed out"):
        task.execute_complete({}, {"status": "timeout", "message": "timed out waiting on 1 rule job(s)"})


def test_execute_complete_raises_a_provider_error_not_an_airflow_exception_on_error_events() -> None:
    from clinical_rules_provider.exceptions import ClinicalRulesError

    task = ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A])
    with pytest.raises(ClinicalRulesError, match="HTTP 401") as caught:
        task.execute_complete({}, {"status": "error", "message": "HTTP 401 from the service"})
    assert not isinstance(caught.value, AirflowException)  # as in poke mode: soft_fail does not skip it


# --- construction ------------------------------------------------------------------------


def test_bad_failure_statuses_are_rejected_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="failure_statuses"):
        ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A], failure_statuses=["Running"])


def test_unknown_poll_endpoint_is_rejected() -> None:
    with pytest.raises(ValueError, match="poll_endpoint"):
        ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A], poll_endpoint="bulk")


def test_poll_interval_sets_the_poke_interval() -> None:
    task = ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A], poll_interval=timedelta(seconds=45))
    assert task.poke_interval == 45.0 and task.poll_interval == 45.0


def test_naive_started_after_is_rejected_on_poke(sim_c1: str) -> None:
    from datetime import datetime

    task = sensor(sim_c1, [RULE_A], started_after=datetime(2026, 1, 1, 12, 0))
    with pytest.raises(ValueError, match="started_after"):
        task.poke(make_context(FakeTI()))


# --- ids given as one templated string -----------------------------------------------------


def test_one_rule_id_string_is_watched_like_a_list_of_one(sim_c1: str) -> None:
    task = sensor(sim_c1, OLD_SUCCESS_RULE, started_after=hours_ago(72))  # type: ignore[arg-type]
    result = task.poke(make_context(FakeTI()))
    assert list(result.xcom_value["succeeded"]) == [OLD_SUCCESS_RULE]


def test_a_rendered_list_of_rule_ids_is_watched_rule_by_rule(sim_c1: str) -> None:
    # what "{{ params.rule_ids }}" renders to without render_template_as_native_obj
    rendered = str([OLD_SUCCESS_RULE, FAILING_RULE])
    task = sensor(sim_c1, rendered, started_after=hours_ago(48))  # type: ignore[arg-type]
    with pytest.raises(AirflowException, match=FAILING_RULE):
        task.poke(make_context(FakeTI()))


def test_one_job_id_string_picks_that_job(sim_c1: str, simulator: LiveSimulator) -> None:
    rule = simulator.state.rule(STUDY, "test", OLD_SUCCESS_RULE)
    assert rule is not None
    task = sensor(
        sim_c1,
        f"{OLD_SUCCESS_RULE}",  # type: ignore[arg-type]
        job_ids=rule.jobs[-1].job_id,
        started_after=pendulum.now("UTC"),
    )
    assert bool(task.poke(make_context(FakeTI()))) is True


def test_comma_separated_rule_ids_reach_the_trigger_as_a_list(sim_c1: str) -> None:
    task = sensor(
        sim_c1,
        f"{STALE_RULE}, {OLD_SUCCESS_RULE.lower()}",  # type: ignore[arg-type]
        started_after=hours_ago(4),
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as caught:
        task.execute(make_context(FakeTI()))
    assert caught.value.trigger.rule_ids == [STALE_RULE, OLD_SUCCESS_RULE]
