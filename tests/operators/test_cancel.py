"""Cancel operators (Clinical One rule jobs and Vault jobs, by id and stale) against the simulator."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pendulum
import pytest
import respx

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.operators.cancel import (
    ClinicalOneCancelRuleJobsOperator,
    ClinicalOneCancelStaleRuleJobsOperator,
    VaultCancelJobsOperator,
    VaultCancelStaleJobsOperator,
)
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import RULE_A, RULE_B, STUDY, ConnFactory
from tests.operators.conftest import C1_LOGIN, C1_PASSWORD, FakeTI

STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h, cancellable
UNCANCELLABLE_RULE = "0E1A63683F884B13A3E7BEE9CA4FF1EA"  # seeded: Running since 3 h, ignores cancel
FINISHED_RULE = RULE_B  # seeded: latest job Success
MISSING_RULE = "ABCDEF0123456789ABCDEF0123456789"

QUEUED_STALE = 1046892  # QUEUED, created 3 h ago
SCHEDULED_STALE = 1043341  # SCHEDULED, created 3 h ago
RUNNING_STALE = 1068337  # RUNNING since 3 h (Vault cannot cancel it)
QUEUED_FRESH = 1068044  # QUEUED, created a minute ago


def rule_status(simulator: LiveSimulator, rule_id: str) -> str:
    job = simulator.state.latest_job(STUDY, "test", rule_id)
    assert job is not None
    return simulator.state.job_status(job)


def by_rule(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["rule_id"]: item for item in items}


def cancel_rules(conn_id: str, **kwargs: Any) -> ClinicalOneCancelRuleJobsOperator:
    return ClinicalOneCancelRuleJobsOperator(task_id="cancel", clinical_one_conn_id=conn_id, **kwargs)


def cancel_stale(conn_id: str, **kwargs: Any) -> ClinicalOneCancelStaleRuleJobsOperator:
    kwargs.setdefault("older_than", timedelta(hours=1))
    return ClinicalOneCancelStaleRuleJobsOperator(
        task_id="cancel_stale", clinical_one_conn_id=conn_id, **kwargs
    )


# --- ClinicalOneCancelRuleJobsOperator ---------------------------------------------------


def test_cancel_reports_each_rule(sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]) -> None:
    rules = [STALE_RULE, FINISHED_RULE, UNCANCELLABLE_RULE, MISSING_RULE]
    report = cancel_rules(sim_c1, rule_ids=rules, fail_on_not_cancelled=False).execute(context)
    assert [i["rule_id"] for i in report["cancelled"]] == [STALE_RULE]
    assert [i["rule_id"] for i in report["already_finished"]] == [FINISHED_RULE]
    not_cancelled = by_rule(report["not_cancelled"])
    assert set(not_cancelled) == {UNCANCELLABLE_RULE, MISSING_RULE}
    assert not_cancelled[UNCANCELLABLE_RULE]["reason"] == "Failed to cancel job"
    assert not_cancelled[MISSING_RULE]["reason"] == "Rule doesn't exist"
    assert rule_status(simulator, STALE_RULE) == "Cancelled"
    assert rule_status(simulator, UNCANCELLABLE_RULE) == "Running"
    assert json.loads(json.dumps(report)) == report


def test_cancel_fails_naming_each_rule_not_cancelled_after_pushing_the_report(
    sim_c1: str, ti: FakeTI, context: dict[str, Any]
) -> None:
    task = cancel_rules(sim_c1, rule_ids=[STALE_RULE, UNCANCELLABLE_RULE, MISSING_RULE])
    with pytest.raises(AirflowException) as caught:
        task.execute(context)
    message = str(caught.value)
    assert "2 rule job(s) could not be cancelled" in message
    assert f"{UNCANCELLABLE_RULE}: Failed to cancel job" in message
    assert f"{MISSING_RULE}: Rule doesn't exist" in message
    assert STALE_RULE not in message
    assert ti.keys == ["return_value"]
    report = ti.pushed("return_value")
    assert [i["rule_id"] for i in report["cancelled"]] == [STALE_RULE]
    assert set(by_rule(report["not_cancelled"])) == {UNCANCELLABLE_RULE, MISSING_RULE}


def test_cancel_succeeds_when_every_job_was_cancelled_or_already_finished(
    sim_c1: str, ti: FakeTI, context: dict[str, Any]
) -> None:
    report = cancel_rules(sim_c1, rule_ids=[STALE_RULE.lower(), FINISHED_RULE]).execute(context)
    assert report["not_cancelled"] == []
    assert (report["study_id"], report["study_mode"]) == (STUDY, "test")
    assert ti.pushes == []  # the report is the return value; it is only pushed when failing


@respx.mock
def test_rules_the_service_did_not_report_on_are_not_cancelled(c1_conn: str, ti: FakeTI) -> None:
    url = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/cancelRuleJob"
    entry = {"ruleId": RULE_A, "jobId": "1E2428167F66445BAB544C7CDD884E87", "jobStatus": "Cancelled"}
    respx.put(url).mock(return_value=httpx.Response(200, json={"status": "Success", "jobStatus": [entry]}))
    task = cancel_rules(c1_conn, rule_ids=[RULE_A, RULE_B], study_id=STUDY, study_mode="test")
    with pytest.raises(AirflowException, match=RULE_B):
        task.execute({"ti": ti})
    [missing] = ti.pushed("return_value")["not_cancelled"]
    assert missing["rule_id"] == RULE_B
    assert missing["reason"] == "the service returned no entry for this rule"


def test_cancel_succeeds_on_oracles_success_outcome_and_reports_no_messages(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = cancel_rules(sim_c1, rule_ids=[STALE_RULE]).execute(context)
    assert simulator.state.requests_to("/cancelRuleJob")[0].json() == {"ruleIds": [STALE_RULE]}
    assert [i["rule_id"] for i in report["cancelled"]] == [STALE_RULE]
    assert report["messages"] == []


@respx.mock
def test_a_non_success_outcome_text_is_reported_while_the_rule_statuses_decide(
    c1_conn: str, ti: FakeTI
) -> None:
    url = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/cancelRuleJob"
    entry = {"ruleId": RULE_A, "jobId": "1E2428167F66445BAB544C7CDD884E87", "jobStatus": "Cancelled"}
    body = {"errorMessage": "Some jobs finished before they could be cancelled", "jobStatus": [entry]}
    respx.put(url).mock(return_value=httpx.Response(200, json=body))
    task = cancel_rules(c1_conn, rule_ids=[RULE_A], study_id=STUDY, study_mode="test")
    report = task.execute({"ti": ti})
    assert [i["rule_id"] for i in report["cancelled"]] == [RULE_A]
    assert report["messages"] == ["Some jobs finished before they could be cancelled"]


def test_cancel_without_a_study_is_a_clear_value_error(
    simulator: LiveSimulator, make_conn: ConnFactory, context: dict[str, Any]
) -> None:
    conn = make_conn("sim_c1_bare", "clinical_one", simulator.url, login=C1_LOGIN, password=C1_PASSWORD)
    with pytest.raises(ValueError, match="study_id"):
        cancel_rules(conn, rule_ids=[STALE_RULE]).execute(context)
    assert simulator.state.request_count == 0


# --- ClinicalOneCancelStaleRuleJobsOperator ----------------------------------------------


def test_stale_jobs_are_found_by_age_and_cancelled(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    fresh = simulator.state.rule(STUDY, "test", RULE_A)
    assert fresh is not None
    simulator.state.start_job(fresh, stuck=True)  # running, but only since now
    rules = [STALE_RULE, UNCANCELLABLE_RULE, FINISHED_RULE, RULE_A]
    report = cancel_stale(sim_c1, rule_ids=rules, fail_on_not_cancelled=False).execute(context)
    assert report["checked_rules"] == 4
    assert report["dry_run"] is False
    assert report["older_than_seconds"] == 3600
    assert set(by_rule(report["stale"])) == {STALE_RULE, UNCANCELLABLE_RULE}
    assert all(item["status"] == "Running" for item in report["stale"])
    assert [i["rule_id"] for i in report["cancelled"]] == [STALE_RULE]
    [refused] = report["not_cancelled"]
    assert (refused["rule_id"], refused["reason"]) == (UNCANCELLABLE_RULE, "Failed to cancel job")
    [request] = simulator.state.requests_to("cancelRuleJob")
    assert set(request.json()["ruleIds"]) == {STALE_RULE, UNCANCELLABLE_RULE}
    assert rule_status(simulator, STALE_RULE) == "Cancelled"
    assert rule_status(simulator, RULE_A) == "Running"
    assert json.loads(json.dumps(report)) == report


def test_stale_cancel_fails_naming_the_uncancellable_rule_after_pushing_the_report(
    sim_c1: str, ti: FakeTI, context: dict[str, Any]
) -> None:
    with pytest.raises(AirflowException) as caught:
        cancel_stale(sim_c1, rule_ids=[STALE_RULE, UNCANCELLABLE_RULE]).execute(context)
    assert f"{UNCANCELLABLE_RULE}: Failed to cancel job" in str(caught.value)
    report = ti.pushed("return_value")
    assert set(by_rule(report["stale"])) == {STALE_RULE, UNCANCELLABLE_RULE}
    assert [i["rule_id"] for i in report["cancelled"]] == [STALE_RULE]


def test_jobs_younger_than_older_than_are_not_stale(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = cancel_stale(sim_c1, rule_ids=[STALE_RULE, UNCANCELLABLE_RULE], older_than=4 * 3600).execute(
        context
    )
    assert report["stale"] == [] and report["cancelled"] == []
    assert simulator.state.requests_to("cancelRuleJob") == []
    assert rule_status(simulator, STALE_RULE) == "Running"


def test_start_dates_are_read_in_the_service_timezone(
    simulator: LiveSimulator, make_conn: ConnFactory, context: dict[str, Any]
) -> None:
    simulator.state.service_timezone = "Asia/Tokyo"  # jobStartDate is local Tokyo time (UTC+9)
    conn = make_conn(
        "sim_c1_tokyo",
        "clinical_one",
        simulator.url,
        login=C1_LOGIN,
        password=C1_PASSWORD,
        extra={"study_id": STUDY, "study_mode": "test", "service_timezone": "Asia/Tokyo"},
    )
    task = cancel_stale(conn, rule_ids=[STALE_RULE], older_than=timedelta(hours=2), dry_run=True)
    [stale] = task.execute(context)["stale"]
    started = pendulum.parse(stale["job_start_date"])
    assert started.utcoffset() == timedelta(hours=9)
    age = pendulum.now("UTC") - started
    assert timedelta(hours=2, minutes=59) < age < timedelta(hours=3, minutes=1)
    younger = cancel_stale(conn, rule_ids=[STALE_RULE], older_than=timedelta(hours=4), dry_run=True)
    assert younger.execute(context)["stale"] == []


def test_a_wrong_service_timezone_changes_the_age(
    simulator: LiveSimulator, make_conn: ConnFactory, context: dict[str, Any]
) -> None:
    # Tokyo local times read as UTC look nine hours younger: the 3 h old job is "in the future".
    simulator.state.service_timezone = "Asia/Tokyo"
    conn = make_conn(
        "sim_c1_utc",
        "clinical_one",
        simulator.url,
        login=C1_LOGIN,
        password=C1_PASSWORD,
        extra={"study_id": STUDY, "study_mode": "test"},
    )
    task = cancel_stale(conn, rule_ids=[STALE_RULE], older_than=timedelta(hours=2), dry_run=True)
    assert task.execute(context)["stale"] == []


def test_dry_run_reports_without_cancelling(
    sim_c1: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    report = cancel_stale(sim_c1, rule_ids=[STALE_RULE, UNCANCELLABLE_RULE], dry_run=True).execute(context)
    assert report["dry_run"] is True
    assert set(by_rule(report["stale"])) == {STALE_RULE, UNCANCELLABLE_RULE}
    assert report["cancelled"] == [] and report["not_cancelled"] == []
    assert simulator.state.requests_to("cancelRuleJob") == []
    assert rule_status(simulator, STALE_RULE) == "Running"
    assert ti.pushes == []


@pytest.mark.parametrize("flag", ["True", " true ", "TRUE"])
def test_templated_true_string_is_a_dry_run(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any], flag: str
) -> None:
    report = cancel_stale(sim_c1, rule_ids=[STALE_RULE], dry_run=flag).execute(context)
    assert report["dry_run"] is True and len(report["stale"]) == 1
    assert simulator.state.requests_to("cancelRuleJob") == []


def test_templated_false_string_cancels(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = cancel_stale(sim_c1, rule_ids=[STALE_RULE], dry_run="false").execute(context)
    assert report["dry_run"] is False
    assert [i["rule_id"] for i in report["cancelled"]] == [STALE_RULE]
    assert rule_status(simulator, STALE_RULE) == "Cancelled"


def test_unrecognised_dry_run_string_is_rejected_before_any_request(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="dry_run"):
        cancel_stale(sim_c1, rule_ids=[STALE_RULE], dry_run="yes please").execute(context)
    assert simulator.state.request_count == 0


def test_without_rule_ids_every_rule_of_the_study_is_checked(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    rules = simulator.state.rules(STUDY, "test")
    expected = {r.rule_id for r in rules if r.latest_job is not None and r.latest_job.running_seconds is None}
    assert {STALE_RULE, UNCANCELLABLE_RULE} <= expected
    report = cancel_stale(sim_c1, dry_run=True).execute(context)
    assert report["checked_rules"] == len(rules)
    assert set(by_rule(report["stale"])) == expected


def test_rule_filter_limits_the_rules_checked(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    approved = [r.rule_id for r in simulator.state.rules(STUDY, "test") if r.rule_state == "approved"]
    report = cancel_stale(sim_c1, rule_filter={"rule_states": ["approved"]}, dry_run=True).execute(context)
    assert report["checked_rules"] == len(approved)
    assert STALE_RULE not in by_rule(report["stale"])


def test_a_rule_filter_that_is_not_a_dict_is_rejected_naming_the_field(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="rule_filter: expected a dict of list_rules filters"):
        cancel_stale(sim_c1, rule_filter="rule_states=approved", dry_run=True).execute(context)
    assert simulator.state.requests_to("filteredlist") == []


def test_job_status_endpoint_finds_the_same_stale_jobs(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    rules = [STALE_RULE, UNCANCELLABLE_RULE, FINISHED_RULE, RULE_A]
    report = cancel_stale(sim_c1, rule_ids=rules, dry_run=True, poll_endpoint="job_status").execute(context)
    assert set(by_rule(report["stale"])) == {STALE_RULE, UNCANCELLABLE_RULE}
    assert simulator.state.requests_to("rerunhistory") == []
    assert len(simulator.state.requests_to("jobStatus")) == 1


def test_stale_operator_argument_checks() -> None:
    with pytest.raises(ValueError, match="rule_ids / rule_filter"):
        ClinicalOneCancelStaleRuleJobsOperator(
            task_id="s", rule_ids=[STALE_RULE], rule_filter={"rule_states": ["publish"]}
        )
    with pytest.raises(ValueError, match="poll_endpoint"):
        ClinicalOneCancelStaleRuleJobsOperator(task_id="s", poll_endpoint="bulk")
    with pytest.raises(ValueError, match="older_than"):
        ClinicalOneCancelStaleRuleJobsOperator(task_id="s", older_than=timedelta(0))


def test_dry_run_is_a_template_field() -> None:
    assert "dry_run" in ClinicalOneCancelStaleRuleJobsOperator.template_fields
    assert "dry_run" in VaultCancelStaleJobsOperator.template_fields


# --- VaultCancelJobsOperator -------------------------------------------------------------


def test_vault_cancel_fails_naming_each_refused_job_after_pushing_the_report(
    sim_vault: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    task = VaultCancelJobsOperator(
        task_id="vc", job_ids=[QUEUED_STALE, RUNNING_STALE], vault_conn_id=sim_vault
    )
    with pytest.raises(AirflowException) as caught:
        task.execute(context)
    message = str(caught.value)
    assert "1 Vault job(s) could not be cancelled" in message
    assert f"{RUNNING_STALE}: " in message and "QUEUED" in message
    assert str(QUEUED_STALE) not in message
    report = ti.pushed("return_value")
    assert report["cancelled"] == [QUEUED_STALE]
    assert [item["job_id"] for item in report["not_cancelled"]] == [RUNNING_STALE]
    job = simulator.state.vault_job(QUEUED_STALE)
    assert job is not None and job.status in ("CANCELLING", "CANCELLED")


def test_vault_cancel_reports_refusals_when_allowed(sim_vault: str, context: dict[str, Any]) -> None:
    task = VaultCancelJobsOperator(
        task_id="vc", job_ids=[RUNNING_STALE], vault_conn_id=sim_vault, fail_on_not_cancelled=False
    )
    report = task.execute(context)
    assert report["cancelled"] == []
    [refused] = report["not_cancelled"]
    assert refused["job_id"] == RUNNING_STALE and refused["reason"]


def test_vault_cancel_counts_a_refused_job_that_is_already_cancelling_as_cancelled(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    # e.g. a retried cancel whose first attempt Vault had already processed
    assert simulator.state.cancel_vault_job(QUEUED_STALE)
    task = VaultCancelJobsOperator(task_id="vc", job_ids=[QUEUED_STALE], vault_conn_id=sim_vault)
    report = task.execute(context)
    assert report["cancelled"] == [QUEUED_STALE]
    assert report["not_cancelled"] == []


def test_vault_cancel_accepts_numeric_strings(
    sim_vault: str, simulator: LiveSimulator, ti: FakeTI, context: dict[str, Any]
) -> None:
    task = VaultCancelJobsOperator(
        task_id="vc", job_ids=[str(QUEUED_STALE), str(SCHEDULED_STALE)], vault_conn_id=sim_vault
    )
    assert task.execute(context) == {"cancelled": [QUEUED_STALE, SCHEDULED_STALE], "not_cancelled": []}
    assert ti.pushes == [("vault_job_url", "")]  # no job_url_template: an empty link, nothing else
    [request] = simulator.state.requests_to("/actions/cancel")
    assert request.json() == [{"job_id": QUEUED_STALE}, {"job_id": SCHEDULED_STALE}]
