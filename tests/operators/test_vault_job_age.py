"""A Vault job's age comes only from documented dates, and no bad date makes it stale (issue 23, item 5).

The stale canceller runs as a dry run against respx job monitors; each row's age must be the
latest of ``modified_date``, ``run_start_date`` once passed, and ``created_date``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pendulum
import pytest
import respx

from clinical_rules_provider.models.vault import VaultJob
from clinical_rules_provider.operators._vault_scope import age_since
from tests.operators.conftest import FakeTI
from tests.operators.test_cancel_vault_jobs import VAULT_BASE, vault_stale

ME = 42


def _ago(hours: float) -> str:
    return (pendulum.now("UTC") - timedelta(hours=hours)).to_iso8601_string()


def _dry_run(vault_conn: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    respx.post(f"{VAULT_BASE}/auth").mock(
        return_value=httpx.Response(
            200, json={"responseStatus": "SUCCESS", "sessionId": "s1", "userId": ME, "vaultIds": []}
        )
    )
    respx.get(f"{VAULT_BASE}/services/jobs/monitors").mock(
        return_value=httpx.Response(
            200, json={"responseStatus": "SUCCESS", "responseDetails": {"total": len(rows)}, "jobs": rows}
        )
    )
    report: dict[str, Any] = vault_stale(vault_conn, dry_run=True).execute({"ti": FakeTI()})
    return report


def _queued(job_id: int, **dates: Any) -> dict[str, Any]:
    return {"job_id": job_id, "status": "QUEUED", "created_by": ME, "title": f"job {job_id}", **dates}


@respx.mock
def test_a_scheduled_job_queued_just_now_with_old_dates_is_not_stale(vault_conn: str) -> None:
    # Created and last modified yesterday; its planned start came a minute ago, so it was
    # queued a minute ago. No reference shows a queue date: run_start_date tells.
    row = _queued(1, created_date=_ago(24), modified_date=_ago(24), run_start_date=_ago(1 / 60))
    report = _dry_run(vault_conn, [row])
    assert report["stale"] == []


@respx.mock
def test_an_undocumented_queue_date_never_sets_the_age(vault_conn: str) -> None:
    # An old queued_date (a field no reference shows) beside a fresh modified_date.
    row = _queued(1, created_date=_ago(3), modified_date=_ago(0.1), queued_date=_ago(3))
    assert _dry_run(vault_conn, [row])["stale"] == []


@pytest.mark.parametrize(
    "bad",
    [0, "0", -1, "-1", "not a date", "1970-01-01T00:00:00.000Z", "0001-01-01T00:00:00Z", 1.5e12, True],
    ids=repr,
)
@respx.mock
def test_a_zero_negative_or_unparsable_modified_date_never_makes_a_job_stale(
    vault_conn: str, bad: Any
) -> None:
    report = _dry_run(vault_conn, [_queued(1, created_date=_ago(3), modified_date=bad)])
    assert report["stale"] == []
    assert report["checked_jobs"] == 1


@respx.mock
def test_a_job_without_any_date_is_never_stale(vault_conn: str) -> None:
    assert _dry_run(vault_conn, [_queued(1)])["stale"] == []


@respx.mock
def test_an_old_job_with_documented_dates_is_stale_from_the_latest_of_them(vault_conn: str) -> None:
    row = _queued(1, created_date=_ago(5), modified_date=_ago(3), run_start_date=_ago(4))
    [stale] = _dry_run(vault_conn, [row])["stale"]
    assert stale["age_from"] == "modified_date"


def test_age_is_the_latest_documented_date_and_a_future_run_start_does_not_count() -> None:
    now = datetime(2026, 1, 2, 12, tzinfo=timezone.utc)
    job = VaultJob.model_validate(
        {
            "job_id": 1,
            "status": "SCHEDULED",
            "created_date": "2026-01-01T10:00:00Z",
            "modified_date": "2026-01-01T11:00:00Z",
            "run_start_date": "2026-01-02T18:00:00Z",  # planned start, still to come
        }
    )
    assert age_since(job, now) == ("modified_date", datetime(2026, 1, 1, 11, tzinfo=timezone.utc))
    assert age_since(job, datetime(2026, 1, 2, 19, tzinfo=timezone.utc)) == (
        "run_start_date",
        datetime(2026, 1, 2, 18, tzinfo=timezone.utc),
    )


def test_an_unreadable_date_is_named_and_read_as_none_not_1970() -> None:
    job = VaultJob.model_validate({"job_id": 1, "modifiedDate": 0, "created_date": "2026-01-01T10:00:00Z"})
    assert job.modified_date is None
    assert job.unreadable_dates == ["modified_date"]
    assert age_since(job) is None
