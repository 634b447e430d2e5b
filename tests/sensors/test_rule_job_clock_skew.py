"""The rule-job sensor warns once when the service's clock is skewed: ``started_after`` is shifted."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from typing import Any

import httpx
import respx

from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
from tests.conftest import RULE_A, STUDY, warnings_logged
from tests.operators.conftest import FakeTI, make_context

HISTORY = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"


def running_job(date: str) -> httpx.Response:
    started = datetime.now(timezone.utc)
    job = {
        "ruleId": RULE_A,
        "jobId": "1E2428167F66445BAB544C7CDD884E87",
        "jobStatus": "Running",
        "jobStartDate": started.strftime("%Y-%m-%d %H:%M:%S.000"),
    }
    return httpx.Response(200, json={"status": "SUCCESS", "ruleHistory": [job]}, headers={"Date": date})


def skew_warnings(conn_id: str, offset: float, pokes: int = 2, **kwargs: Any) -> list[str]:
    respx.get(HISTORY).mock(
        side_effect=lambda request: running_job(formatdate(time.time() + offset, usegmt=True))
    )
    task = ClinicalOneRuleJobSensor(
        task_id="wait",
        rule_ids=[RULE_A],
        study_id=STUDY,
        study_mode="test",
        clinical_one_conn_id=conn_id,
        **kwargs,
    )
    context = make_context(FakeTI())
    with warnings_logged() as warnings:
        for _ in range(pokes):
            task.poke(context)
    return [w for w in warnings if "clock" in w]


@respx.mock
def test_a_service_five_minutes_behind_is_warned_about_once(c1_conn: str) -> None:
    started_after = datetime.now(timezone.utc) - timedelta(minutes=1)
    [warning] = skew_warnings(c1_conn, -300, started_after=started_after)
    assert "behind this worker's" in warning and "started_after" in warning


@respx.mock
def test_an_in_range_service_clock_is_not_warned_about(c1_conn: str) -> None:
    started_after = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert skew_warnings(c1_conn, 0, started_after=started_after) == []


@respx.mock
def test_no_warning_when_job_ids_make_started_after_irrelevant(c1_conn: str) -> None:
    assert skew_warnings(c1_conn, -300, job_ids=["1E2428167F66445BAB544C7CDD884E87"]) == []
