"""The stale rule-job canceller shows the service's clock skew: logged, returned, warned about."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider.operators.cancel import (
    ClinicalOneCancelStaleRuleJobsOperator,
    VaultCancelStaleJobsOperator,
)
from tests.conftest import STUDY, warnings_logged

STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h, cancellable
JOB_ID = "1E2428167F66445BAB544C7CDD884E87"
HISTORY = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{STALE_RULE}"


def history_reply(date: str | None) -> httpx.Response:
    """A job running for 3 h by the service's clock, with ``Date`` as given."""
    started = datetime.now(timezone.utc) - timedelta(hours=3)
    job = {
        "ruleId": STALE_RULE,
        "jobId": JOB_ID,
        "jobStatus": "Running",
        "jobStartDate": started.strftime("%Y-%m-%d %H:%M:%S.000"),
    }
    headers = {"Date": date} if date is not None else {}
    return httpx.Response(200, json={"status": "SUCCESS", "ruleHistory": [job]}, headers=headers)


def run_dry(conn_id: str, date: str | None) -> tuple[dict[str, Any], list[str]]:
    """Run a dry run against a reply carrying ``date``; the report and the warnings logged."""
    respx.get(HISTORY).mock(return_value=history_reply(date))
    task = ClinicalOneCancelStaleRuleJobsOperator(
        task_id="cancel_stale",
        clinical_one_conn_id=conn_id,
        study_id=STUDY,
        study_mode="test",
        rule_ids=[STALE_RULE],
        dry_run=True,
    )
    with warnings_logged() as warnings:
        report = task.execute({"ti": None})
    return report, warnings


@respx.mock
def test_a_service_five_minutes_ahead_is_warned_about_and_reported(c1_conn: str) -> None:
    report, warnings = run_dry(c1_conn, formatdate(time.time() + 300, usegmt=True))
    assert 298 < report["clock_skew_seconds"] < 302
    [warning] = [w for w in warnings if "clock" in w]
    assert "ahead of this worker's" in warning and "older_than" in warning
    assert [s["rule_id"] for s in report["stale"]] == [STALE_RULE]  # the skew changes nothing


@respx.mock
def test_an_in_range_date_header_is_reported_without_a_warning(c1_conn: str) -> None:
    report, warnings = run_dry(c1_conn, formatdate(time.time(), usegmt=True))
    assert abs(report["clock_skew_seconds"]) < 1.5
    assert not [w for w in warnings if "clock" in w]


@respx.mock
def test_a_missing_date_header_reports_no_skew_and_no_warning(c1_conn: str) -> None:
    report, warnings = run_dry(c1_conn, None)
    assert report["clock_skew_seconds"] is None
    assert not [w for w in warnings if "clock" in w]


class _WorkerClockBehind:
    """``time`` for the skew meter only: this worker's clock five minutes behind."""

    @staticmethod
    def time() -> float:
        return time.time() - 300


def test_the_vault_stale_canceller_reports_and_warns_about_the_skew_too(
    sim_vault: str, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    from clinical_rules_provider.transport import clock_skew as _clock_skew

    task = VaultCancelStaleJobsOperator(task_id="stale_vault", vault_conn_id=sim_vault, dry_run=True)
    report = task.execute(context)
    assert abs(report["clock_skew_seconds"]) < 1.5  # the simulator runs on this machine's clock
    monkeypatch.setattr(_clock_skew, "time", _WorkerClockBehind)
    task = VaultCancelStaleJobsOperator(task_id="stale_vault", vault_conn_id=sim_vault, dry_run=True)
    with warnings_logged() as warnings:
        report = task.execute(context)
    assert 298 < report["clock_skew_seconds"] < 302
    [warning] = [w for w in warnings if "clock" in w]
    assert "ahead of this worker's" in warning and "older_than" in warning
