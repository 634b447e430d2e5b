"""User job 3: every hour, cancel Clinical One rule jobs and Vault jobs that run/queue too long.

Trigger with ``{"dry_run": true}`` to only see what would be cancelled. A job that cannot be
cancelled (Clinical One's "Failed to cancel job", a Vault refusal) fails its task with the
ids and reasons; the full per-item report is in XCom either way. The Vault canceller keeps
to its defaults: only jobs of the connection's own user, and never a job merely scheduled for
later.

It cancels for real, so it is paused when Airflow first sees it: point the connections at
your tenant, check a ``{"dry_run": true}`` run's report, then unpause it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag

from clinical_rules_provider.operators.cancel import (
    ClinicalOneCancelStaleRuleJobsOperator,
    VaultCancelStaleJobsOperator,
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "clinical-data",
    # No task retries: the hook already retries each request's transient faults, and the next
    # hourly run is the retry for a job that could not be cancelled this time.
    "retries": 0,
    "execution_timeout": timedelta(minutes=30),
}


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # It cancels jobs for real: paused until you have seen a dry run against your tenant.
    is_paused_upon_creation=True,
    description=(
        'Paused: it cancels for real. Trigger it with {"dry_run": true}, check the report, then unpause.'
    ),
    dagrun_timeout=timedelta(minutes=50),
    default_args=DEFAULT_ARGS,
    render_template_as_native_obj=True,
    params={"dry_run": Param(False, type="boolean")},
    tags=["clinical-one", "vault", "example"],
)
def cancel_stale_jobs() -> None:
    ClinicalOneCancelStaleRuleJobsOperator(
        task_id="cancel_stale_rule_jobs",
        older_than=timedelta(hours=1),
        dry_run="{{ params.dry_run }}",
    )
    VaultCancelStaleJobsOperator(
        task_id="cancel_stale_vault_jobs",
        older_than=timedelta(hours=1),
        dry_run="{{ params.dry_run }}",
    )


cancel_stale_jobs()
