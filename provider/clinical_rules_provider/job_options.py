"""What a job wait is told to watch, validated when the DAG file is parsed.

Sensors and operators check these options in their constructors, so this module imports
only the enums: a DAG file that uses the provider does not load pydantic models, httpx or
the hooks (they load at execute time).
"""

from __future__ import annotations

from collections.abc import Iterable

from clinical_rules_provider._show import shown
from clinical_rules_provider.models.enums import (
    RULE_JOB_FAILURE_STATUSES,
    VAULT_JOB_FAILURE_STATUSES,
    RuleJobStatus,
    rule_job_phase,
    vault_job_phase,
)

POLL_ENDPOINTS = ("rerun_history", "job_status")
# A trigger that fires within seconds of defer() can make Airflow's scheduler fail the resumed
# task (apache/airflow #66374): measured on a loaded 2-core stack, the scheduler took 5-8 s to
# process the executor's report; 10 s covered every run (docs/running-at-scale.md).
MIN_FIRST_POLL_DELAY = 10.0


def first_poll_delay(poll_interval: float) -> float:
    """How long a trigger deferred right after a poll (or a publish) waits before polling."""
    return max(float(poll_interval), MIN_FIRST_POLL_DELAY)


def check_poll_endpoint(value: str) -> str:
    """``rerun_history`` (one request per rule) or ``job_status`` (bulk, 500 rules per request)."""
    if value not in POLL_ENDPOINTS:
        raise ValueError(f"poll_endpoint: expected 'rerun_history' or 'job_status', got {shown(value)}")
    return value


def _strings(values: Iterable[object]) -> list[str]:
    """``failure_statuses`` items, each a string (a status name or a status enum member); a
    bare string is refused, not read as a list of characters."""
    if isinstance(values, str):
        raise ValueError("failure_statuses: expected a list of job statuses, got a string")
    items = list(values)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ValueError(f"failure_statuses[{index}]: expected a job status string, got {shown(item)}")
    return items  # type: ignore[return-value]


# Active by default (the reference: "service could not cancel the job", so it still runs),
# but a tenant whose history keeps this status may list it to stop waiting on such a job.
FAILED_TO_CANCEL_OPT_IN = RuleJobStatus.FAILED_TO_CANCEL.value


def failure_status_set(failure_statuses: Iterable[str] | None) -> frozenset[str]:
    """Validate ``failure_statuses`` (default: every terminal failure status in DESIGN.md).

    Only terminal statuses, since a running job cannot fail the wait, and ``Failed to cancel
    job`` (see :data:`FAILED_TO_CANCEL_OPT_IN`). Unknown non-empty strings are accepted: a
    tenant may report newer statuses.
    """
    if failure_statuses is None:
        return RULE_JOB_FAILURE_STATUSES
    chosen = frozenset(
        str(s.value if isinstance(s, RuleJobStatus) else s) for s in _strings(failure_statuses)
    )
    bad = [
        s for s in chosen if not s.strip() or (rule_job_phase(s) == "active" and s != FAILED_TO_CANCEL_OPT_IN)
    ]
    if bad:
        raise ValueError(f"failure_statuses: {shown(sorted(bad))} are not terminal statuses")
    return chosen


def vault_failure_status_set(failure_statuses: Iterable[str] | None) -> frozenset[str]:
    """Validate Vault ``failure_statuses`` (default: every terminal status but ``SUCCESS``)."""
    if failure_statuses is None:
        return VAULT_JOB_FAILURE_STATUSES
    chosen = frozenset(str(s).upper() for s in _strings(failure_statuses))
    bad = [s for s in chosen if vault_job_phase(s) == "active" or not s.strip()]
    if bad:
        raise ValueError(f"failure_statuses: {shown(sorted(bad))} are not terminal Vault statuses")
    return chosen
