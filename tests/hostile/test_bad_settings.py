"""Class 8: bad settings are refused with a ValueError naming them, before anything is sent."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from clinical_rules_provider.models.enums import StudyMode, parse_choice
from clinical_rules_provider.models.ids import vault_job_id
from tests.conftest import RULE_A, STUDY, ConnFactory
from tests.hostile.server import HostileServer

Conn = Callable[..., str]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("max_retries", "inf"),
        ("max_retries", 2.5),
        ("max_concurrency", "nan"),
        ("deadline", "nan"),
        ("deadline", 0),
        ("max_wait", "-1"),
        ("max_wait", "infinity"),
        ("max_body_bytes", "inf"),
        ("max_body_bytes", 0),
    ],
)
def test_a_connection_setting_that_is_not_a_finite_positive_number_is_refused_naming_it(
    make_conn: ConnFactory, hostile: HostileServer, key: str, value: Any
) -> None:
    conn = make_conn("c1_bad", "clinical_one", hostile.url, extra={"token": "t", key: value})
    with pytest.raises(ValueError, match=key):
        ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A)
    assert hostile.seen == []


def test_a_vault_setting_that_is_not_finite_is_refused_naming_it(
    make_conn: ConnFactory, hostile: HostileServer
) -> None:
    conn = make_conn(
        "vault_bad", "veeva_vault", hostile.url, login="u", password="p", extra={"timeout": "inf"}
    )
    with pytest.raises(ValueError, match="timeout"):
        VaultHook(conn).get_job_status(9)
    assert hostile.seen == []


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_older_than_that_is_not_finite_is_refused_at_construction(value: Any) -> None:
    from clinical_rules_provider.operators.cancel import ClinicalOneCancelStaleRuleJobsOperator

    with pytest.raises(ValueError, match="older_than"):
        ClinicalOneCancelStaleRuleJobsOperator(task_id="stale", older_than=value)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_poll_interval_that_is_not_finite_is_refused_at_construction(value: float) -> None:
    from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
    from clinical_rules_provider.sensors.vault_job import VaultJobSensor

    with pytest.raises(ValueError, match="poll_interval"):
        ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A], poll_interval=value)
    with pytest.raises(ValueError, match="poll_interval"):
        VaultJobSensor(task_id="wait", job_ids=[9], poll_interval=value)


def test_an_infinite_sensor_timeout_is_refused_at_construction() -> None:
    from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

    with pytest.raises(ValueError, match="timeout"):
        ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A], timeout=math.inf)


def test_a_clinical_one_poll_interval_below_one_second_is_refused() -> None:
    from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
    from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

    with pytest.raises(ValueError, match="poll_interval"):
        ClinicalOneRuleJobSensor(task_id="wait", rule_ids=[RULE_A], poll_interval=0.5)
    with pytest.raises(ValueError, match="poll_interval"):
        ClinicalOneUpdatePublishRunOperator(
            task_id="publish", publish_run="AllData", rule_ids=[RULE_A], poll_interval=0.2
        )


def test_an_enum_value_of_megabytes_is_quoted_in_at_most_about_a_hundred_characters() -> None:
    with pytest.raises(ValueError, match="mode") as info:
        parse_choice("x" * 5_000_000, StudyMode, "mode")
    assert len(str(info.value)) < 250


def test_a_vault_job_id_of_thousands_of_digits_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="job_id") as info:
        vault_job_id("9" * 5000, "job_id")
    assert len(str(info.value)) < 250
