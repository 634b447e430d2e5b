"""How many rule jobs the simulator started, per rule and per publish-run request.

Each accepted publish-run PUT starts a new job for every rule it updates, so a client that
resends an update whose reply was lost runs those rules twice. These helpers let a test or
a reliability run assert that it did not: ``rules_run_twice(state, since=task_start)``.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clinical_rules_provider.testing.state import RuleJob, SimulatorState

__all__ = ["jobs_per_publish", "rule_job_counts", "rules_run_twice"]


def _started_jobs(state: SimulatorState, since: datetime | None) -> list[RuleJob]:
    """Jobs that really ran (not seeded history pinned to a status), started at/after ``since``."""
    with state.lock:
        return [
            job
            for study, mode in state.studies()
            for rule in state.rules(study, mode)
            for job in rule.jobs
            if job.fixed_status is None and (since is None or job.started >= since)
        ]


def rule_job_counts(state: SimulatorState, *, since: datetime | None = None) -> Counter[str]:
    """Jobs started per rule (uppercase compact id) at/after ``since`` (default: all of them)."""
    return Counter(job.rule_id for job in _started_jobs(state, since))


def rules_run_twice(state: SimulatorState, *, since: datetime | None = None) -> dict[str, int]:
    """Rules that got more than one job at/after ``since``, with their job counts."""
    return {rule_id: n for rule_id, n in rule_job_counts(state, since=since).items() if n > 1}


def jobs_per_publish(state: SimulatorState, *, since: datetime | None = None) -> dict[str, Counter[str]]:
    """Jobs per rule for each publish-run request (keyed by the request's ``groupJobId``)."""
    groups: dict[str, Counter[str]] = {}
    for job in _started_jobs(state, since):
        groups.setdefault(job.group_job_id, Counter())[job.rule_id] += 1
    return groups
