"""ClinicalOneUpdatePublishRunOperator against the live simulator: selection, XCom, failures, waits."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pendulum
import pytest

from clinical_rules_provider._compat import AirflowException, AirflowSensorTimeout, TaskDeferred
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger
from tests.conftest import RULE_A, RULE_B, RULE_C, STUDY, ConnFactory
from tests.operators.conftest import C1_LOGIN, C1_PASSWORD, FakeTI

FAILING_RULE = RULE_C  # its jobs end Failed
MISSING_RULE = "ABCDEF0123456789ABCDEF0123456789"

# The XCom keys the publish operator pushes, in order.
PUSHED_KEYS = [
    "clinical_one_rules_url",
    "rule_ids",
    "started_after",
    "results",
    "warnings",
    "failed",
    "unconfirmed",
]


def operator(conn_id: str, **kwargs: Any) -> ClinicalOneUpdatePublishRunOperator:
    kwargs.setdefault("task_id", "publish")
    kwargs.setdefault("publish_run", "AllData")
    kwargs.setdefault("poll_interval", 0.05)
    return ClinicalOneUpdatePublishRunOperator(clinical_one_conn_id=conn_id, **kwargs)


def add_invalid_rule(simulator: LiveSimulator) -> str:
    rule = simulator.state.add_rule(
        STUDY, "test", invalid=True, validation_message="Rule expression references a missing item."
    )
    return rule.rule_id


# --- selection and report ----------------------------------------------------------------


def test_updates_rules_by_id_and_reports_each(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    report = operator(sim_c1, rule_ids=[RULE_A.lower(), RULE_B]).execute(context)
    assert report["rule_ids"] == [RULE_A, RULE_B]
    assert report["failed"] == []
    assert report["publish_run"] == "AllData"
    assert (report["study_id"], report["study_mode"]) == (STUDY, "test")
    assert [r["ruleId"] for r in report["results"]] == [RULE_A, RULE_B]
    for rule_id in (RULE_A, RULE_B):
        rule = simulator.state.rule(STUDY, "test", rule_id)
        assert rule is not None and rule.publish_run == "AllData"


def test_updates_rules_chosen_by_filter(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    expected = {r.rule_id for r in simulator.state.rules(STUDY, "test") if r.rule_state == "approved"}
    assert RULE_A in expected
    report = operator(sim_c1, rule_filter={"rule_states": ["approved"]}, publish_run="futuredata").execute(
        context
    )
    assert set(report["rule_ids"]) == expected
    assert report["publish_run"] == "FutureData"
    [publish] = simulator.state.requests_to("/FutureData")
    assert set(publish.json()["ruleIds"]) == expected


def test_filter_matching_nothing_updates_nothing(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    report = operator(sim_c1, rule_filter={"user_name": "nobody-at-all"}).execute(context)
    assert report["rule_ids"] == [] and report["results"] == []
    assert ti.pushed("rule_ids") == []
    assert simulator.state.requests_to("/AllData") == []


def test_filter_matching_nothing_still_closes_the_hook(
    sim_c1: str, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    task = operator(sim_c1, rule_filter={"user_name": "nobody-at-all"})
    closes: list[bool] = []
    close = task.hook.close
    monkeypatch.setattr(task.hook, "close", lambda: (closes.append(True), close())[1])
    task.execute(context)
    assert closes == [True]


def test_report_and_xcom_are_plain_json(sim_c1: str, ti: FakeTI, context: dict[str, Any]) -> None:
    import json

    report = operator(sim_c1, rule_ids=[RULE_A]).execute(context)
    assert json.loads(json.dumps(report)) == report
    assert json.loads(json.dumps(ti.pushes)) == [list(p) for p in ti.pushes]


def test_pushes_rule_ids_started_after_and_results(sim_c1: str, ti: FakeTI, context: dict[str, Any]) -> None:
    now = pendulum.now("UTC")
    before = now.replace(microsecond=now.microsecond // 1000 * 1000)  # started_after has ms precision
    report = operator(sim_c1, rule_ids=[RULE_A]).execute(context)
    assert ti.keys == PUSHED_KEYS
    assert ti.pushed("rule_ids") == [RULE_A]
    assert ti.pushed("results") == report["results"]
    started_after = pendulum.parse(ti.pushed("started_after"))
    assert before <= started_after <= pendulum.now("UTC")


def test_started_after_is_before_the_jobs_it_started(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    operator(sim_c1, rule_ids=[RULE_A]).execute(context)
    job = simulator.state.latest_job(STUDY, "test", RULE_A)
    assert job is not None
    assert pendulum.parse(ti.pushed("started_after")) <= job.started


# --- partial failure ---------------------------------------------------------------------


def test_partial_failure_fails_naming_each_rule_after_pushing_xcom(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    invalid = add_invalid_rule(simulator)
    with pytest.raises(AirflowException) as caught:
        operator(sim_c1, rule_ids=[RULE_A, invalid, MISSING_RULE]).execute(context)
    message = str(caught.value)
    assert "2 rule(s) were not updated" in message
    assert invalid in message and "missing item" in message
    assert MISSING_RULE in message
    assert message.index(RULE_A) > message.index("applied, not to be sent again")  # named as applied
    assert ti.keys == PUSHED_KEYS
    assert ti.pushed("rule_ids") == [RULE_A]
    assert len(ti.pushed("results")) == 3


def test_partial_failure_is_reported_not_raised_when_allowed(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    invalid = add_invalid_rule(simulator)
    report = operator(sim_c1, rule_ids=[RULE_A, invalid], fail_on_partial_failure=False).execute(context)
    assert report["rule_ids"] == [RULE_A]
    [failed] = report["failed"]
    assert failed["rule_id"] == invalid and "missing item" in failed["reason"]


# --- accepted-but-unfinished updates and validation warnings (seed 002) ------------------


def test_queued_and_in_progress_rules_count_as_updated_and_the_wait_covers_them(
    sim_c1: str, fast_jobs: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    queued = fast_jobs.state.add_rule(STUDY, "test", publish_status="Queued").rule_id
    active = fast_jobs.state.add_rule(STUDY, "test", publish_status="InProgress").rule_id
    report = operator(sim_c1, rule_ids=[queued, active, RULE_A], wait_for_completion=True).execute(context)
    assert [r["jobStatus"] for r in report["results"]] == ["Queued", "InProgress", "Success"]
    assert report["rule_ids"] == [queued, active, RULE_A]
    assert ti.pushed("rule_ids") == [queued, active, RULE_A]
    assert (report["failed"], report["warnings"]) == ([], [])
    assert set(report["jobs"]["succeeded"]) == {queued, active, RULE_A}


def test_a_validation_warning_is_reported_not_raised_by_default(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    warned = simulator.state.add_rule(
        STUDY, "test", validation_status=False, validation_message="Rule references a retired item."
    ).rule_id
    report = operator(sim_c1, rule_ids=[RULE_A, warned]).execute(context)
    assert report["rule_ids"] == [RULE_A, warned]
    assert report["failed"] == []
    assert report["warnings"] == [{"rule_id": warned, "warning": "Rule references a retired item."}]
    assert ti.pushed("warnings") == report["warnings"]


def test_a_validation_warning_fails_the_task_when_asked_after_pushing_xcom(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    warned = simulator.state.add_rule(
        STUDY, "test", validation_status=False, validation_message="Rule references a retired item."
    ).rule_id
    task = operator(sim_c1, rule_ids=[RULE_A, warned], fail_on_validation_warnings=True)
    with pytest.raises(AirflowException) as caught:
        task.execute(context)
    assert str(caught.value) == (
        f"1 updated rule(s) have validation warnings: {warned}: Rule references a retired item."
    )
    assert ti.pushed("rule_ids") == [RULE_A, warned]
    assert ti.pushed("warnings") == [{"rule_id": warned, "warning": "Rule references a retired item."}]


def test_fail_on_validation_warnings_does_not_fail_a_clean_update(
    sim_c1: str, ti: FakeTI, context: dict[str, Any]
) -> None:
    report = operator(sim_c1, rule_ids=[RULE_A], fail_on_validation_warnings=True).execute(context)
    assert (report["rule_ids"], report["warnings"]) == ([RULE_A], [])


# --- waiting in the worker ---------------------------------------------------------------


def test_wait_for_completion_polls_until_the_jobs_succeed(
    sim_c1: str, fast_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    report = operator(sim_c1, rule_ids=[RULE_A, RULE_B], wait_for_completion=True).execute(context)
    assert set(report["jobs"]["succeeded"]) == {RULE_A, RULE_B}
    assert report["jobs"]["failed"] == {} and report["jobs"]["waiting"] == {}
    assert len(fast_jobs.state.requests_to("rerunhistory")) > 2  # polled more than once


def test_wait_for_completion_fails_naming_the_failed_rule_after_pushing_xcom(
    sim_c1: str, fast_jobs: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    with pytest.raises(AirflowException) as caught:
        operator(sim_c1, rule_ids=[RULE_A, FAILING_RULE], wait_for_completion=True).execute(context)
    assert FAILING_RULE in str(caught.value) and "Failed" in str(caught.value)
    assert ti.pushed("rule_ids") == [RULE_A, FAILING_RULE]


def test_wait_for_completion_ignores_the_rules_older_jobs(
    sim_c1: str, fast_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    # RULE_B already has a successful job from two days ago; the wait must report the new one.
    report = operator(sim_c1, rule_ids=[RULE_B], wait_for_completion=True).execute(context)
    new_job = fast_jobs.state.latest_job(STUDY, "test", RULE_B)
    assert new_job is not None
    assert report["jobs"]["succeeded"][RULE_B]["job_id"] == new_job.job_id


def test_one_transient_poll_error_does_not_fail_the_wait(
    sim_c1_no_retry: str, fast_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    fast_jobs.state.faults.configure(path_filter="rerunhistory")
    fast_jobs.state.faults.enqueue("503")
    report = operator(sim_c1_no_retry, rule_ids=[RULE_A], wait_for_completion=True).execute(context)
    assert fast_jobs.state.faults.injected["503"] == 1
    assert set(report["jobs"]["succeeded"]) == {RULE_A}


def test_wait_after_an_allowed_partial_failure_covers_only_the_updated_rules(
    sim_c1: str, fast_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    invalid = add_invalid_rule(fast_jobs)
    task = operator(
        sim_c1, rule_ids=[RULE_A, invalid], wait_for_completion=True, fail_on_partial_failure=False
    )
    report = task.execute(context)
    assert set(report["jobs"]["succeeded"]) == {RULE_A}
    assert [f["rule_id"] for f in report["failed"]] == [invalid]


def test_wait_sees_a_job_started_in_the_same_millisecond_as_the_threshold(
    sim_c1: str,
    fast_jobs: LiveSimulator,
    monkeypatch: pytest.MonkeyPatch,
    context: dict[str, Any],
) -> None:
    # On a warm keep-alive connection the service can start the job within the millisecond in
    # which the operator took ``started_after`` (about a third of publishes with rule_filter on
    # loopback). Made deterministic: the threshold is 12:00:00.000500 (in ms terms), the job
    # starts 0.3 ms later and is reported, with millisecond precision, as 12:00:00.000.
    from clinical_rules_provider.operators import publish_run

    real_now = fast_jobs.state.clock
    threshold = real_now().replace(microsecond=500)
    job_start = threshold + timedelta(microseconds=300)
    release = real_now() + timedelta(seconds=0.2)

    def service_clock() -> Any:
        # Frozen at job_start while the publish request is handled, then moving in real time.
        return job_start + max(real_now() - release, timedelta(0))

    monkeypatch.setattr(publish_run, "utc_now", lambda: threshold)
    fast_jobs.state.clock = service_clock
    task = operator(sim_c1, rule_ids=[RULE_A], wait_for_completion=True, poll_interval=0.05, timeout=1.5)
    report = task.execute(context)
    assert set(report["jobs"]["succeeded"]) == {RULE_A}


def test_wait_for_completion_times_out(
    sim_c1: str, slow_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    task = operator(sim_c1, rule_ids=[RULE_A], wait_for_completion=True, poll_interval=0.2, timeout=1)
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout):
        task.execute(context)
    assert 0.9 <= time.monotonic() - started < 5


def test_no_wait_returns_without_polling(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = operator(sim_c1, rule_ids=[RULE_A]).execute(context)
    assert "jobs" not in report
    assert simulator.state.requests_to("rerunhistory") == []


# --- deferrable --------------------------------------------------------------------------


def test_deferred_wait_polls_first_after_ten_seconds_and_in_the_worker_at_once(
    sim_c1: str, slow_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    # Deferred, a trigger firing within seconds of defer() can make the scheduler fail the task.
    task = operator(sim_c1, rule_ids=[RULE_A], wait_for_completion=True, deferrable=True, poll_interval=1)
    with pytest.raises(TaskDeferred) as caught:
        task.execute(context)
    assert caught.value.trigger.first_poll_delay == 10.0
    in_worker = operator(sim_c1, rule_ids=[RULE_A], wait_for_completion=True, poll_interval=1)
    assert in_worker._trigger(STUDY, "test", [RULE_A], "2026-01-01T00:00:00+00:00").first_poll_delay == 0.0


def test_deferrable_defers_with_a_trigger_carrying_every_parameter(
    sim_c1: str, slow_jobs: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    task = operator(
        sim_c1,
        rule_ids=[RULE_A, RULE_B],
        wait_for_completion=True,
        deferrable=True,
        timeout=600,
        poll_interval=20,
        failure_statuses=["Failed"],
        poll_endpoint="job_status",
        cancel_on_kill=True,
        max_concurrency=2,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as caught:
        task.execute(context)
    deferred = caught.value
    assert deferred.method_name == "execute_complete"
    assert isinstance(deferred.trigger, ClinicalOneRuleJobTrigger)
    _, kwargs = deferred.trigger.serialize()
    end_time = kwargs.pop("end_time")
    assert before + 600 <= end_time <= time.time() + 600
    assert kwargs == {
        "study_id": STUDY,
        "study_mode": "test",
        "rule_ids": [RULE_A, RULE_B],
        "started_after": ti.pushed("started_after"),
        "job_ids": None,
        "failure_statuses": ["Failed"],
        "poll_interval": 20.0,
        "poll_endpoint": "job_status",
        "clinical_one_conn_id": sim_c1,
        "max_concurrency": 2,
        "cancel_on_kill": True,
        "first_poll_delay": 20.0,  # the jobs started a moment ago: the first poll waits an interval
    }
    # XCom was pushed before deferring, and the report rides along for execute_complete.
    assert ti.keys == PUSHED_KEYS
    assert deferred.kwargs is not None
    assert deferred.kwargs["report"]["rule_ids"] == [RULE_A, RULE_B]


def test_deferrable_without_wait_for_completion_does_not_defer(sim_c1: str, context: dict[str, Any]) -> None:
    report = operator(sim_c1, rule_ids=[RULE_A], deferrable=True).execute(context)
    assert report["rule_ids"] == [RULE_A]


def test_execute_complete_returns_the_report_with_the_jobs() -> None:
    task = ClinicalOneUpdatePublishRunOperator(task_id="publish", publish_run="AllData", rule_ids=[RULE_A])
    outcome = {"succeeded": {RULE_A: {"job_id": "J1", "status": "Success"}}, "failed": {}, "waiting": {}}
    report = {"rule_ids": [RULE_A], "failed": []}
    result = task.execute_complete({}, {"status": "success", "outcome": outcome}, report=report)
    assert result == {"rule_ids": [RULE_A], "failed": [], "jobs": outcome}


def test_execute_complete_raises_with_the_trigger_message_on_failure() -> None:
    task = ClinicalOneUpdatePublishRunOperator(task_id="publish", publish_run="AllData", rule_ids=[RULE_A])
    message = f"1 rule job(s) ended in a failure status: {RULE_A} (job J1): Failed"
    with pytest.raises(AirflowException) as caught:
        task.execute_complete({}, {"status": "failure", "message": message}, report={})
    assert str(caught.value) == message


def test_execute_complete_raises_sensor_timeout_on_timeout() -> None:
    task = ClinicalOneUpdatePublishRunOperator(task_id="publish", publish_run="AllData", rule_ids=[RULE_A])
    with pytest.raises(AirflowSensorTimeout):
        task.execute_complete({}, {"status": "timeout", "message": "timed out"}, report={})


# --- on_kill -----------------------------------------------------------------------------


def test_on_kill_cancels_the_started_rules_when_asked(
    sim_c1: str, slow_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    task = operator(sim_c1, rule_ids=[RULE_A], cancel_on_kill=True)
    task.execute(context)
    task.on_kill()
    [cancel] = slow_jobs.state.requests_to("cancelRuleJob")
    assert cancel.json() == {"ruleIds": [RULE_A]}
    job = slow_jobs.state.latest_job(STUDY, "test", RULE_A)
    assert job is not None and slow_jobs.state.job_status(job) == "Cancelled"


def test_on_kill_cancels_only_rules_that_were_updated(
    sim_c1: str, slow_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    invalid = add_invalid_rule(slow_jobs)
    task = operator(sim_c1, rule_ids=[RULE_A, invalid], cancel_on_kill=True, fail_on_partial_failure=False)
    task.execute(context)
    task.on_kill()
    [cancel] = slow_jobs.state.requests_to("cancelRuleJob")
    assert cancel.json() == {"ruleIds": [RULE_A]}


def test_on_kill_does_nothing_by_default(
    sim_c1: str, slow_jobs: LiveSimulator, context: dict[str, Any]
) -> None:
    task = operator(sim_c1, rule_ids=[RULE_A])
    task.execute(context)
    task.on_kill()
    assert slow_jobs.state.requests_to("cancelRuleJob") == []
    job = slow_jobs.state.latest_job(STUDY, "test", RULE_A)
    assert job is not None and slow_jobs.state.job_status(job) == "Running"


def test_on_kill_before_anything_started_sends_nothing(sim_c1: str, simulator: LiveSimulator) -> None:
    operator(sim_c1, rule_ids=[RULE_A], cancel_on_kill=True).on_kill()
    assert simulator.state.request_count == 0


# --- study defaults and argument checks --------------------------------------------------


def test_explicit_study_and_mode_override_the_connection_extra(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = operator(sim_c1, rule_ids=[RULE_A], study_id=STUDY.lower(), study_mode="TRAINING").execute(
        context
    )
    assert report["study_mode"] == "training"
    [request] = simulator.state.requests_to("/AllData")
    assert f"/studies/{STUDY}/training/" in request.path


@pytest.mark.parametrize(
    ("extra", "missing"), [({"study_mode": "test"}, "study_id"), ({"study_id": STUDY}, "study_mode")]
)
def test_missing_study_or_mode_is_a_clear_value_error(
    simulator: LiveSimulator,
    make_conn: ConnFactory,
    context: dict[str, Any],
    extra: dict[str, str],
    missing: str,
) -> None:
    conn = make_conn(
        "sim_c1_bare", "clinical_one", simulator.url, login=C1_LOGIN, password=C1_PASSWORD, extra=extra
    )
    with pytest.raises(ValueError, match=f"{missing}: not given, and the connection extra has no {missing}"):
        operator(conn, rule_ids=[RULE_A]).execute(context)
    assert simulator.state.request_count == 0


@pytest.mark.parametrize("kwargs", [{}, {"rule_ids": [RULE_A], "rule_filter": {"rule_states": ["publish"]}}])
def test_exactly_one_of_rule_ids_and_rule_filter(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rule_ids / rule_filter"):
        ClinicalOneUpdatePublishRunOperator(task_id="publish", publish_run="AllData", **kwargs)


def test_bad_publish_run_is_rejected_before_any_request(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="publish"):
        operator(sim_c1, rule_ids=[RULE_A], publish_run="SomeData").execute(context)
    assert simulator.state.request_count == 0


def test_bad_publish_run_is_rejected_before_the_rules_are_listed(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="publish_run"):
        operator(sim_c1, rule_filter={"rule_states": ["approved"]}, publish_run="SomeData").execute(context)
    assert simulator.state.request_count == 0


def test_bad_failure_statuses_are_rejected_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="failure_statuses"):
        ClinicalOneUpdatePublishRunOperator(
            task_id="publish", publish_run="AllData", rule_ids=[RULE_A], failure_statuses=["Running"]
        )


def test_bad_failure_statuses_are_rejected_before_any_request(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="failure_statuses"):
        operator(sim_c1, rule_ids=[RULE_A], failure_statuses=["Running"]).execute(context)
    assert simulator.state.request_count == 0


# --- a lost reply is reconciled, never resent ---------------------------------------------------


@pytest.mark.parametrize("kind", ["lost_reply_drop", "lost_reply_504"])
def test_lost_reply_to_the_update_is_reconciled_reported_and_waited_on(
    sim_c1: str, fast_jobs: LiveSimulator, ti: FakeTI, context: dict[str, Any], kind: str
) -> None:
    from clinical_rules_provider.testing.job_audit import rule_job_counts

    before = fast_jobs.state.now()
    fast_jobs.state.faults.configure(path_filter="/rulemgt/")
    fast_jobs.state.faults.enqueue(kind)
    report = operator(sim_c1, rule_ids=[RULE_A, RULE_B], wait_for_completion=True).execute(context)
    assert rule_job_counts(fast_jobs.state, since=before) == {RULE_A: 1, RULE_B: 1}
    assert report["rule_ids"] == [RULE_A, RULE_B] == ti.pushed("rule_ids")
    assert report["reconciled"] == [RULE_A, RULE_B]
    assert [r["reconciled"] for r in ti.pushed("results")] == [True, True]
    assert set(report["jobs"]["succeeded"]) == {RULE_A, RULE_B}
