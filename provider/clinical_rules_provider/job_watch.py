"""Which rule jobs a wait is about, and whether they are done: shared by the rule-job sensor,
its trigger and the publish operator's wait, so poke, reschedule and deferral decide alike.

No Airflow and no I/O here: callers fetch the jobs (see
:meth:`ClinicalOneHook.alatest_jobs`) and hand them to :meth:`RuleJobWatch.evaluate`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clinical_rules_provider.job_options import failure_status_set
from clinical_rules_provider.models.clinical_one import RuleJob, latest_job
from clinical_rules_provider.models.enums import RULE_JOB_FAILURE_STATUSES, rule_job_phase, vault_job_phase
from clinical_rules_provider.models.ids import compact_id, normalize_list
from clinical_rules_provider.models.times import floor_to_millisecond

log = logging.getLogger(__name__)
# Unknown statuses already logged (once each); bounded, and each kept short, so a service
# inventing statuses cannot grow it without end.
_warned_statuses: OrderedDict[str, None] = OrderedDict()
MAX_WARNED_STATUSES = 256
_STATUS_SHOWN = 100


def warn_unknown_status(status: str) -> None:
    shown = status if len(status) <= _STATUS_SHOWN else status[: _STATUS_SHOWN - 3] + "..."
    if shown in _warned_statuses:
        return
    _warned_statuses[shown] = None
    while len(_warned_statuses) > MAX_WARNED_STATUSES:
        _warned_statuses.popitem(last=False)
    log.warning("Unknown rule job status %r treated as still running", shown)


class Outcome(Protocol):
    """A poll's verdict (:class:`WatchOutcome` or :class:`VaultWatchOutcome`)."""

    @property
    def failed(self) -> Any: ...

    @property
    def done(self) -> bool: ...

    def failure_message(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class WatchOutcome:
    """The verdict of one poll. ``done`` is True when nothing is left to wait for."""

    succeeded: dict[str, RuleJob] = field(default_factory=dict)
    failed: dict[str, RuleJob] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)  # rule id -> why it is still waiting

    @property
    def done(self) -> bool:
        return bool(self.failed) or not self.waiting

    def failure_message(self) -> str:
        """One line per failed rule: rule id, job id and status."""
        lines = [f"{rule} (job {job.job_id}): {job.status}" for rule, job in sorted(self.failed.items())]
        return f"{len(self.failed)} rule job(s) ended in a failure status: " + "; ".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for trigger events and XCom."""
        return {
            "succeeded": {r: _job_json(j) for r, j in self.succeeded.items()},
            "failed": {r: _job_json(j) for r, j in self.failed.items()},
            "waiting": dict(self.waiting),
        }


def _job_json(job: RuleJob) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "status": job.status,
        "job_start_date": job.job_start_date.isoformat() if job.job_start_date else None,
    }


@dataclass(frozen=True)
class RuleJobWatch:
    """The jobs a wait is about: those in ``job_ids`` or, without ids, started at/after ``started_after``."""

    rule_ids: tuple[str, ...]
    started_after: datetime | None = None
    job_ids: frozenset[str] | None = None
    failure_statuses: frozenset[str] = RULE_JOB_FAILURE_STATUSES

    @classmethod
    def create(
        cls,
        rule_ids: Any,
        *,
        started_after: datetime | None = None,
        job_ids: Any = None,
        failure_statuses: Iterable[str] | None = None,
    ) -> RuleJobWatch:
        """Validate the inputs; ``job_ids`` (when given) win over ``started_after``."""
        ids = tuple(normalize_list(rule_ids, "rule_ids", compact_id))
        jobs = frozenset(normalize_list(job_ids, "job_ids", compact_id)) if job_ids is not None else None
        if jobs is None and (started_after is None or started_after.tzinfo is None):
            raise ValueError("started_after: expected an aware datetime when no job_ids are given")
        threshold = floor_to_millisecond(started_after) if jobs is None and started_after else None
        return cls(ids, threshold, jobs, failure_status_set(failure_statuses))

    def relevant(self, jobs: Iterable[RuleJob]) -> RuleJob | None:
        """The newest job of a rule that this watch counts."""
        if self.job_ids is not None:
            return latest_job(j for j in jobs if _compact(j.job_id) in self.job_ids)
        assert self.started_after is not None
        return latest_job(
            j for j in jobs if j.job_start_date is not None and j.job_start_date >= self.started_after
        )

    def evaluate(self, jobs_by_rule: Mapping[str, Iterable[RuleJob]]) -> WatchOutcome:
        """Classify every rule: succeeded, failed (status in ``failure_statuses``) or waiting."""
        outcome = WatchOutcome()
        for rule_id in self.rule_ids:
            job = self.relevant(jobs_by_rule.get(rule_id, ()))
            if job is None:
                outcome.waiting[rule_id] = "no matching job yet"
                continue
            status = job.status or ""
            phase = rule_job_phase(status)
            if status in self.failure_statuses:
                outcome.failed[rule_id] = job
            elif phase in ("success", "failure"):
                outcome.succeeded[rule_id] = job  # terminal, and the user does not count it as failure
            else:
                if phase == "unknown":
                    warn_unknown_status(status)
                outcome.waiting[rule_id] = status
        return outcome


def _compact(job_id: str | None) -> str | None:
    try:
        return compact_id(job_id, "jobId")
    except ValueError:
        return job_id


@dataclass(frozen=True)
class VaultWatchOutcome:
    """Verdict of one poll over Vault jobs: status per job id, by class."""

    succeeded: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    waiting: dict[int, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return bool(self.failed) or not self.waiting

    def failure_message(self) -> str:
        lines = "; ".join(f"job {job_id}: {status}" for job_id, status in sorted(self.failed.items()))
        return f"{len(self.failed)} Vault job(s) ended in a failure status: {lines}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (job ids as strings, as JSON object keys must be)."""
        return {
            k: {str(j): s for j, s in getattr(self, k).items()} for k in ("succeeded", "failed", "waiting")
        }


def evaluate_vault_jobs(
    statuses: Mapping[int, str | None], failure_statuses: frozenset[str]
) -> VaultWatchOutcome:
    """Classify each job's status; unknown statuses keep waiting."""

    outcome = VaultWatchOutcome()
    for job_id, status in statuses.items():
        text = status or ""
        if text in failure_statuses:
            outcome.failed[job_id] = text
        elif vault_job_phase(text) in ("success", "failure"):
            outcome.succeeded[job_id] = text
        else:
            outcome.waiting[job_id] = text or "unknown"
    return outcome
