"""Which rule jobs a wait is about, and whether they are done: shared by the rule-job sensor,
its trigger and the publish operator's wait, so poke, reschedule and deferral decide alike.
No Airflow and no I/O here: callers fetch the jobs and hand them to :meth:`RuleJobWatch.evaluate`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from clinical_rules_provider._state import WARNED_STATUSES
from clinical_rules_provider.clients.clinical_one import normal_id
from clinical_rules_provider.job_options import failure_status_set
from clinical_rules_provider.models.clinical_one import RuleJob, latest_job
from clinical_rules_provider.models.enums import RULE_JOB_FAILURE_STATUSES, rule_job_phase, vault_job_phase
from clinical_rules_provider.models.ids import compact_id, normalize_list
from clinical_rules_provider.models.refs import RuleIds
from clinical_rules_provider.models.times import floor_to_millisecond

log = logging.getLogger(__name__)
# Unknown statuses are logged once each (``_state.WARNED_STATUSES``, bounded), each kept
# short, so a service inventing statuses cannot grow the registry without end.
_STATUS_SHOWN = 100


def warn_unknown_status(status: str) -> None:
    """Log a status this provider does not know, once per process (it counts as running)."""
    shown = status if len(status) <= _STATUS_SHOWN else status[: _STATUS_SHOWN - 3] + "..."
    if shown in WARNED_STATUSES:
        return
    WARNED_STATUSES.put(shown, None)
    log.warning("Unknown rule job status %r treated as still running", shown)


K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Outcome(Generic[K, V]):
    """A poll's verdict, per watched key (rule id or Vault job id): what succeeded, what failed
    (a status the wait counts as failure) and what is still awaited, with the reason."""

    noun: ClassVar[str] = "job(s)"
    succeeded: dict[K, V] = field(default_factory=dict)
    failed: dict[K, V] = field(default_factory=dict)
    waiting: dict[K, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Nothing is left to wait for; a failure ends the wait at once."""
        return bool(self.failed) or not self.waiting

    @staticmethod
    def describe(key: K, value: V) -> str:
        """One failed job as the failure message names it: ``job <key>: <status>``."""
        return f"job {key}: {value}"

    @staticmethod
    def value_json(value: V) -> Any:
        """A succeeded or failed entry as plain JSON."""
        return value

    def failure_message(self) -> str:
        """One line naming every failed job and its status."""
        lines = "; ".join(self.describe(key, value) for key, value in sorted(self.failed.items()))
        return f"{len(self.failed)} {self.noun} ended in a failure status: {lines}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for trigger events and XCom (keys as strings, as JSON object keys must be)."""
        return {
            "succeeded": {str(k): self.value_json(v) for k, v in self.succeeded.items()},
            "failed": {str(k): self.value_json(v) for k, v in self.failed.items()},
            "waiting": {str(k): why for k, why in self.waiting.items()},
        }


@dataclass(frozen=True)
class WatchOutcome(Outcome[str, RuleJob]):
    """The verdict of one poll over rule jobs: each rule id with its relevant job."""

    noun: ClassVar[str] = "rule job(s)"

    @staticmethod
    def describe(key: str, value: RuleJob) -> str:
        """``<rule> (job <job id>): <status>``."""
        return f"{key} (job {value.job_id}): {value.status}"

    @staticmethod
    def value_json(value: RuleJob) -> Any:
        """Job id, status and ISO start date."""
        return {
            "job_id": value.job_id,
            "status": value.status,
            "job_start_date": value.job_start_date.isoformat() if value.job_start_date else None,
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
        ids = RuleIds.of(rule_ids)  # a trigger's ids, checked when it was built, are kept as they are
        jobs = frozenset(normalize_list(job_ids, "job_ids", compact_id)) if job_ids is not None else None
        if jobs is None and (started_after is None or started_after.tzinfo is None):
            raise ValueError("started_after: expected an aware datetime when no job_ids are given")
        threshold = floor_to_millisecond(started_after) if jobs is None and started_after else None
        return cls(ids, threshold, jobs, failure_status_set(failure_statuses))

    def relevant(self, jobs: Iterable[RuleJob]) -> RuleJob | None:
        """The newest job of a rule that this watch counts."""
        if self.job_ids is not None:
            return latest_job(j for j in jobs if normal_id(j.job_id, "jobId") in self.job_ids)
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


@dataclass(frozen=True)
class VaultWatchOutcome(Outcome[int, str]):
    """The verdict of one poll over Vault jobs: each job id with its status."""

    noun: ClassVar[str] = "Vault job(s)"


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
