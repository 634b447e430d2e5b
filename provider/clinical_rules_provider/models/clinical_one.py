"""Requests and responses of the Clinical One rule endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from clinical_rules_provider.models._base import CamelModel, LenientBool, OpenEnum, ServiceTime, UtcTime, aka
from clinical_rules_provider.models.enums import (
    PUBLISH_ACCEPTED_STATUSES,
    PublishJobStatus,
    PublishRun,
    RuleJobStatus,
    RuleState,
    SortOrder,
    rule_job_phase,
    status_value,
)


class ErrorDetail(CamelModel):
    """``BulkRuleMgmtErrorDoc``: the error envelope of the rule-designer endpoints."""

    status: str | None = None
    result: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    details: str | None = None


class PublishRunOutcome(CamelModel):
    """``BulkRulePublishRunResultDoc``: what a successful publish-run update changed."""

    status: str | None = None
    result: str | None = None


class PublishRunResult(CamelModel):
    """One rule's outcome of ``update_publish_run`` (``BulkRulePublishRunResponseItemDoc``)."""

    rule_id: str | None = None
    rule_name: str | None = None
    job_status: OpenEnum[PublishJobStatus] = None
    rule_validation_message: str | None = None
    rule_validation_status: LenientBool = None
    http_error_code: int | None = None
    http_error_message: str | None = None
    result: PublishRunOutcome | None = None
    error: ErrorDetail | None = None
    # Set by the provider (never sent by the service): the reply was lost, and a job started
    # since the update was sent showed that the service had applied it.
    reconciled: bool = False

    @property
    def succeeded(self) -> bool:
        """True when the service accepted the update: ``Success``, ``InProgress`` or ``Queued`` (the
        rule's job follows, so a wait covers it) and no ``error`` object. ``ruleValidationStatus:
        false`` alone is a :attr:`warning`, not a failure."""
        return status_value(self.job_status) in PUBLISH_ACCEPTED_STATUSES and self.error is None

    @property
    def warning(self) -> str | None:
        """The validation warning of an accepted update (``ruleValidationStatus: false``, which
        "records warnings or errors": the update went through, so it is reported, not failed)."""
        if not self.succeeded or self.rule_validation_status is not False:
            return None
        return self.rule_validation_message or "ruleValidationStatus is false"

    @property
    def failure_reason(self) -> str | None:
        """A one-line reason when the update did not succeed, else ``None``."""
        if self.succeeded:
            return None
        reason = f"jobStatus={status_value(self.job_status)}"
        e = self.error
        details = (
            [e.error_code, e.error_message, e.details] if e is not None else [self.rule_validation_message]
        )
        said = " - ".join(d for d in details if d)
        return f"{reason}: {said}" if said else reason


class RuleFilter(CamelModel):
    """Body of the ``filteredlist`` endpoint (field names partly inferred: ``docs/inferences.md``);
    build it through :func:`~clinical_rules_provider.clients.filtered_list.build_rule_filter`,
    which validates and normalises every value before a request exists."""

    form_id: str | None = None
    item_id: list[str] | None = None
    publish_run: PublishRun | None = None
    rule_enabled: str | None = None
    rule_state: list[RuleState] | None = None
    rule_training_enabled: str | None = None
    sort_column: str | None = None
    sort_order: SortOrder | None = None
    user_id: str | None = None
    user_name: str | None = None


class RuleSummary(CamelModel):
    """``BulkRuleMgmtRuleSummaryDoc``: one rule from ``list_rules``. The reference names only the
    first four fields; the rest are read under Oracle's published names and older inferred ones
    (``docs/reference/models.md``). Unknown fields are kept as extras."""

    rule_id: str
    rule_name: str | None = None
    rule_state: OpenEnum[RuleState] = None
    rule_validation_status: LenientBool = None
    rule_validation_message: str | None = None
    rule_enabled: LenientBool = None
    training: LenientBool = aka("ruleTrainingEnabled", "training", "training_enabled")
    publish_run: OpenEnum[PublishRun] = None
    rule_ref_name: str | None = None
    rule_description: str | None = None
    form_id: str | None = None
    form_name: str | None = None
    form_ref_name: str | None = None
    item_id: str | list[str] | None = None
    question_name: str | None = None
    question_ref_name: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    # The attribute name itself is accepted too (``validate_by_name``).
    last_modified: UtcTime = aka("lastModifiedDate", "lastModified")
    rule_order: int | None = aka("ruleOrder", "displayOrder")
    rule_origin_type: str | None = aka("ruleOriginType", "ruleSource")
    rule_deleted: LenientBool = aka("ruleDeleted", "isDeleted")
    rule_ever_in_production: LenientBool = aka("ruleEverInProduction", "executedInProduction")
    rule_action_target: str | None = None
    rule_action_type_name: str | None = None
    version_start: UtcTime = None
    version_end: UtcTime = None


class RuleListPage(CamelModel):
    """``BulkRuleMgmtFilterResponseDoc``: one page of ``filteredlist``."""

    result_data: list[RuleSummary] = Field(default_factory=list)
    total_count: int | None = aka("totalCount", "total")
    has_more: LenientBool = None


class RuleJob(CamelModel):
    """A rule job from rerun history, cancel or job-status (``JobStatusEntry``/``RuleHistoryEntry``);
    ``job_start_date`` is aware, read in the connection's ``service_timezone``."""

    rule_id: str | None = None
    job_id: str | None = None
    job_status: OpenEnum[RuleJobStatus] = None
    rule_name: str | None = None
    job_start_date: ServiceTime = None
    group_job_id: str | None = None
    user_id: str | None = None
    count_passed_subjects: int | None = None
    count_failed_subjects: int | None = None

    @property
    def status(self) -> str | None:
        """The status as its wire string, whether or not it is a known value."""
        return status_value(self.job_status)

    @property
    def is_terminal(self) -> bool:
        """True for success and failure statuses; unknown statuses count as still running."""
        return rule_job_phase(self.job_status) in ("success", "failure")


class CancelRuleJobsResult(CamelModel):
    """``JobStatusResponse`` of ``cancelRuleJob``, merged across 500-id chunks: ``status`` is
    ``"Success"`` when every chunk said so (Oracle's ``errorMessage``); other outcome text is kept
    once in ``messages``, reported but no error, because the per-rule entries decide.
    ``missing_rule_ids`` lists requested rules with no entry (no job): nothing is silently dropped.
    """

    status: str | None = None
    messages: list[str] = Field(default_factory=list)
    job_status: list[RuleJob] = Field(default_factory=list)
    missing_rule_ids: list[str] = Field(default_factory=list)

    @property
    def cancelled(self) -> list[RuleJob]:
        """Entries whose job is now ``Cancelled``."""
        return [j for j in self.job_status if j.status == RuleJobStatus.CANCELLED.value]

    @property
    def not_cancelled(self) -> list[RuleJob]:
        """Entries whose job is not ``Cancelled`` (including ``Failed to cancel job``)."""
        return [j for j in self.job_status if j.status != RuleJobStatus.CANCELLED.value]


class JobStatusResult(CancelRuleJobsResult):
    """``JobStatusResponse`` of the bulk ``jobStatus`` endpoint (same shape as cancel)."""


class RerunHistory(CamelModel):
    """``RuleHistoryResponse``: a rule's rerun history."""

    status: str
    status_detail: str | None = None
    rule_history: list[RuleJob] = Field(default_factory=list)

    @field_validator("rule_history", mode="before")
    @classmethod
    def _one_object_is_one_entry(cls, value: Any) -> Any:
        """Oracle's original page shows ``ruleHistory`` as one object, the seed as a list."""
        return [value] if isinstance(value, dict) else value

    @property
    def latest(self) -> RuleJob | None:
        """The most recently started job (history order is not guaranteed by the reference)."""
        return latest_job(self.rule_history)

    def jobs_since(self, threshold: datetime) -> list[RuleJob]:
        """Jobs that started at or after ``threshold`` (an aware datetime)."""
        return [
            j for j in self.rule_history if j.job_start_date is not None and j.job_start_date >= threshold
        ]


def latest_job(jobs: Iterable[RuleJob]) -> RuleJob | None:
    """Return the job with the greatest start date (the first of equals); jobs without a date rank lowest."""
    return max(jobs, key=_start_key, default=None)


def _start_key(job: RuleJob) -> float:
    return job.job_start_date.timestamp() if job.job_start_date is not None else float("-inf")


def dump_json(models: Iterable[Any]) -> list[dict[str, Any]]:
    """Turn models into plain JSON data for XCom (Airflow refuses to deserialise pydantic models)."""
    return [m.model_dump(mode="json") for m in models]
