"""Hostile task arguments (issue 23, items 8, 11 and 12): whatever a DAG or a rendered template
passes, the task fails with a short ``ValueError`` naming the field, before any request, in
bounded time: never a ``RecursionError``, a 10 MB message or a date from 1969."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from clinical_rules_provider._show import MAX_SHOWN
from clinical_rules_provider.clients import publish_run
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.operators.cancel import VaultCancelJobsOperator, VaultCancelStaleJobsOperator
from clinical_rules_provider.operators.cancel_rule_jobs import ClinicalOneCancelRuleJobsOperator
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
from clinical_rules_provider.sensors.vault_job import VaultJobSensor
from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger
from tests.conftest import RULE_A, STUDY
from tests.hostile.conftest import bounded
from tests.hostile.server import HostileServer
from tests.operators.conftest import FakeTI, make_context

Conn = Callable[..., str]
DEEP = 5000
NESTED = {
    "brackets": "[" * DEEP + "]" * DEEP,
    "unclosed brackets": "[" * DEEP,
    "a long sum": "[" + "1+" * DEEP + "1]",
    "nested negations": "[" + "-" * DEEP + "1]",
    "nested calls": "[" + "f(" * DEEP + ")" * DEEP + "]",
}
STUDY_ARGS = {"study_id": STUDY, "study_mode": "test"}


def _tasks(c1: str, vault: str, ids: str) -> dict[str, Callable[[], Any]]:
    """Each operator and sensor that reads an id parameter, built and run with ``ids`` in it."""
    ctx = make_context(FakeTI())
    return {
        "publish rule_ids": lambda: ClinicalOneUpdatePublishRunOperator(
            task_id="t", publish_run="AllData", rule_ids=ids, clinical_one_conn_id=c1, **STUDY_ARGS
        ).execute(ctx),
        "cancel rule_ids": lambda: ClinicalOneCancelRuleJobsOperator(
            task_id="t", rule_ids=ids, clinical_one_conn_id=c1, **STUDY_ARGS
        ).execute(ctx),
        "rule sensor rule_ids": lambda: ClinicalOneRuleJobSensor(
            task_id="t", rule_ids=ids, clinical_one_conn_id=c1, **STUDY_ARGS
        ).poke(ctx),
        "rule sensor job_ids": lambda: ClinicalOneRuleJobSensor(
            task_id="t", rule_ids=[RULE_A], job_ids=ids, clinical_one_conn_id=c1, **STUDY_ARGS
        ).poke(ctx),
        "vault cancel job_ids": lambda: VaultCancelJobsOperator(
            task_id="t", job_ids=ids, vault_conn_id=vault
        ).execute(ctx),
        "vault sensor job_ids": lambda: VaultJobSensor(task_id="t", job_ids=ids, vault_conn_id=vault).poke(
            ctx
        ),
    }


TASKS = list(_tasks("c", "v", "x"))


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("ids", list(NESTED.values()), ids=list(NESTED))
def test_an_id_string_nested_thousands_deep_is_a_value_error_naming_the_field(
    hostile: HostileServer, c1: Conn, vault: Conn, task: str, ids: str
) -> None:
    run = _tasks(c1(), vault(), ids)[task]
    field = task.rsplit(" ", 1)[1]
    started = time.monotonic()
    with pytest.raises(ValueError, match=rf"^{field}: ") as caught:
        bounded(run)
    assert time.monotonic() - started < 1
    assert len(str(caught.value)) < 300
    assert hostile.seen == []


# --- every message quotes at most ~100 characters of the bad value ------------------------

HUGE = "x" * 10_000_000


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda hook: list(hook.list_rules(STUDY, "test", user_name=HUGE)), "user_name"),
        (lambda hook: list(hook.list_rules(STUDY, "test", sort_column=HUGE)), "sort_column"),
        (lambda hook: list(hook.list_rules(STUDY, "test", publish_run=HUGE)), "publish_run"),
        (lambda hook: list(hook.list_rules(STUDY, "test", form_id=HUGE)), "form_id"),
        (lambda hook: list(hook.list_rules(STUDY, "test", enabled=HUGE)), "enabled"),
        (lambda hook: list(hook.list_rules(STUDY, "test", **{HUGE: 1})), "filters"),
        (lambda hook: hook.get_rerun_history(HUGE, "test", RULE_A), "study_id"),
        (lambda hook: hook.get_rerun_history(STUDY, HUGE, RULE_A), "mode"),
    ],
    ids=["user_name", "sort_column", "publish_run", "form_id", "enabled", "filter name", "study", "mode"],
)
def test_a_10_mb_filter_or_id_is_quoted_in_at_most_100_characters(
    hostile: HostileServer, c1: Conn, call: Callable[[ClinicalOneHook], Any], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{field}\b") as caught:
        bounded(lambda: call(ClinicalOneHook(c1())))
    assert len(str(caught.value)) < MAX_SHOWN + 300
    assert hostile.seen == []


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda c1: ClinicalOneUpdatePublishRunOperator(
                task_id="t", publish_run="AllData", rule_filter=HUGE, clinical_one_conn_id=c1, **STUDY_ARGS
            ).execute(make_context(FakeTI())),
            "rule_filter",
        ),
        (
            lambda c1: ClinicalOneRuleJobSensor(
                task_id="t", rule_ids=[RULE_A], started_after=HUGE, clinical_one_conn_id=c1, **STUDY_ARGS
            ).poke(make_context(FakeTI())),
            "started_after",
        ),
        (
            lambda c1: ClinicalOneRuleJobSensor(
                task_id="t", rule_ids=[RULE_A], failure_statuses=[" " * 1_000_000], clinical_one_conn_id=c1
            ),
            "failure_statuses",
        ),
        (
            lambda c1: ClinicalOneRuleJobSensor(
                task_id="t", rule_ids=[RULE_A], poll_interval=HUGE, clinical_one_conn_id=c1
            ),
            "poll_interval",
        ),
        (
            lambda c1: ClinicalOneRuleJobEventTrigger(
                study_id=STUDY, study_mode="test", rule_filter=HUGE, clinical_one_conn_id=c1
            ),
            "rule_filter",
        ),
        (
            lambda c1: next(
                publish_run.update_publish_run(STUDY, "test", "AllData", [RULE_A], attempts=HUGE)
            ),
            "attempts",
        ),
    ],
    ids=["rule_filter", "started_after", "failure_statuses", "poll_interval", "watcher-filter", "attempts"],
)
def test_a_huge_task_argument_is_quoted_in_at_most_100_characters(
    hostile: HostileServer, c1: Conn, build: Callable[[str], Any], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: ") as caught:
        bounded(lambda: build(c1()))
    assert len(str(caught.value)) < MAX_SHOWN + 300
    assert hostile.seen == []


# --- only a timestamp is a date ------------------------------------------------------------


@pytest.mark.parametrize(
    "started_after", ["-1", "2026", "12:00", "2026-W01", "2026-01-31", "2026-01-31T12:00:00"]
)
def test_a_started_after_that_is_not_a_timestamp_with_an_offset_is_refused_before_any_request(
    hostile: HostileServer, c1: Conn, started_after: str
) -> None:
    sensor = ClinicalOneRuleJobSensor(
        task_id="t", rule_ids=[RULE_A], started_after=started_after, clinical_one_conn_id=c1(), **STUDY_ARGS
    )
    with pytest.raises(ValueError, match=r"^started_after: .*offset"):
        bounded(lambda: sensor.poke(make_context(FakeTI())))
    assert hostile.seen == []


def _deep_list(depth: int = 100_000) -> list[Any]:
    deep: list[Any] = []
    for _ in range(depth):
        deep = [deep]
    return deep


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda deep: VaultCancelStaleJobsOperator(task_id="t", job_owner=deep), "job_owner"),
        (lambda deep: VaultCancelStaleJobsOperator(task_id="t", title_pattern=deep), "title_pattern"),
        (lambda deep: VaultCancelStaleJobsOperator(task_id="t", job_types=deep), "job_types"),
        (
            lambda deep: ClinicalOneRuleJobSensor(task_id="t", rule_ids=[RULE_A], failure_statuses=[deep]),
            r"failure_statuses\[0\]",
        ),
        (
            lambda deep: VaultJobSensor(task_id="t", job_ids=[1], failure_statuses=[deep]),
            r"failure_statuses\[0\]",
        ),
    ],
    ids=["job_owner", "title_pattern", "job_types", "failure_statuses", "vault failure_statuses"],
)
def test_a_python_list_nested_100_000_deep_is_a_value_error_naming_the_field(
    build: Callable[[Any], Any], field: str
) -> None:
    deep = _deep_list()
    with pytest.raises(ValueError, match=rf"^{field}: ") as caught:
        bounded(lambda: build(deep))
    assert len(str(caught.value)) < 300
