"""Templated ``older_than`` (both stale cancellers) and ``timeout`` (publish run): a template
passes the parse-time check, its rendered value (seconds, a numeric string included) is used,
and a bad rendered value is refused naming the field before any request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from clinical_rules_provider._compat import TaskDeferred
from clinical_rules_provider.operators.cancel import (
    ClinicalOneCancelStaleRuleJobsOperator,
    VaultCancelStaleJobsOperator,
)
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import RULE_A

STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h
QUEUED_STALE = 1046892  # seeded: mine, QUEUED 3 h

# Non-native rendering turns every value into a string: "7200" is what "{{ params.age }}" gives.
TWO_HOURS, FOUR_HOURS = 2 * 3600, 4 * 3600


def render(task: Any, **params: Any) -> None:
    task.render_template_fields({"params": params})


@pytest.mark.parametrize(("age", "found"), [(TWO_HOURS, True), (FOUR_HOURS, False)])
def test_a_templated_rule_older_than_renders_and_sets_the_cutoff(
    sim_c1: str, context: dict[str, Any], age: int, found: bool
) -> None:
    task = ClinicalOneCancelStaleRuleJobsOperator(
        task_id="stale",
        rule_ids=[STALE_RULE],
        older_than="{{ params.age }}",
        dry_run=True,
        clinical_one_conn_id=sim_c1,
    )
    render(task, age=age)
    report = task.execute(context)
    assert report["older_than_seconds"] == float(age)
    assert [item["rule_id"] for item in report["stale"]] == ([STALE_RULE] if found else [])


@pytest.mark.parametrize(("age", "found"), [(TWO_HOURS, True), (FOUR_HOURS, False)])
def test_a_templated_vault_older_than_renders_and_sets_the_cutoff(
    sim_vault: str, context: dict[str, Any], age: int, found: bool
) -> None:
    task = VaultCancelStaleJobsOperator(
        task_id="stale", older_than="{{ params.age }}", dry_run=True, vault_conn_id=sim_vault
    )
    render(task, age=age)
    report = task.execute(context)
    assert report["older_than_seconds"] == float(age)
    assert (QUEUED_STALE in [item["job_id"] for item in report["stale"]]) is found


@pytest.mark.parametrize("rendered", ["soon", "0", "nan"])
def test_a_bad_rendered_rule_older_than_is_refused_before_any_request(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any], rendered: str
) -> None:
    task = ClinicalOneCancelStaleRuleJobsOperator(
        task_id="stale", rule_ids=[STALE_RULE], older_than="{{ params.age }}", clinical_one_conn_id=sim_c1
    )
    render(task, age=rendered)
    with pytest.raises(ValueError, match=r"^older_than: expected a timedelta or a finite number"):
        task.execute(context)
    assert simulator.state.request_count == 0


def test_a_bad_rendered_vault_older_than_is_refused_before_any_request(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    task = VaultCancelStaleJobsOperator(
        task_id="stale", older_than="{{ params.age }}", vault_conn_id=sim_vault
    )
    render(task, age="an hour")
    with pytest.raises(ValueError, match=r"^older_than: "):
        task.execute(context)
    assert simulator.state.request_count == 0


def test_a_templated_publish_timeout_renders_and_bounds_the_deferred_wait(
    sim_c1: str, context: dict[str, Any]
) -> None:
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish",
        publish_run="AllData",
        rule_ids=[RULE_A],
        wait_for_completion=True,
        deferrable=True,
        timeout="{{ params.wait }}",
        clinical_one_conn_id=sim_c1,
    )
    render(task, wait=90)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    assert deferred.value.timeout == timedelta(seconds=90)


def test_a_bad_rendered_publish_timeout_is_refused_before_any_request(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish",
        publish_run="AllData",
        rule_ids=[RULE_A],
        timeout="{{ params.wait }}",
        clinical_one_conn_id=sim_c1,
    )
    render(task, wait="two hours")
    with pytest.raises(ValueError, match=r"^timeout: "):
        task.execute(context)
    assert simulator.state.request_count == 0


def test_durations_are_template_fields() -> None:
    assert "older_than" in ClinicalOneCancelStaleRuleJobsOperator.template_fields
    assert "older_than" in VaultCancelStaleJobsOperator.template_fields
    assert "timeout" in ClinicalOneUpdatePublishRunOperator.template_fields
