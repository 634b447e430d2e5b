"""The short version of ``make reliability``: 10 fault-injected runs and 1000 bad inputs."""

from __future__ import annotations

import pytest

from reliability.durable_publish import durable_runs
from reliability.fuzz import fuzz
from reliability.run import fault_runs

pytestmark = pytest.mark.e2e


def test_ten_runs_at_20_percent_faults_all_end_correct_without_leaking_secrets() -> None:
    report = fault_runs(10, 0.2)
    assert report["failures"] == []
    assert report["correct_runs"] == 10
    assert sum(report["faults_injected"].values()) > 0
    assert sum(report["retries"].values()) > 0
    assert report["secret_occurrences"] == 0


def test_a_thousand_invalid_inputs_are_rejected_before_any_request() -> None:
    report = fuzz(1000)
    assert report["generated"] >= 1000
    assert report["not_rejected"] == []
    assert report["rejected"] == report["generated"]
    assert report["requests_sent"] == 0
    assert report["valid_accepted"] == 4


def test_ten_publishes_on_the_realistic_tenant_apply_every_rule_exactly_once() -> None:
    report = durable_runs(10, 0.2)
    assert report["failures"] == []
    assert (report["rules_applied_twice"], report["rules_skipped"]) == (0, 0)
    assert report["runs_green"] == 10
    assert report["publish_replies_lost"] > 0 and report["workers_killed"] > 0
