"""Enumerations of the services' vocabularies and the status semantics built on them.
Response fields typed with them also accept unknown strings (``Enum | str``): a vendor adding
a status must never crash a DAG that only reads a rule list.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Literal, TypeVar

from clinical_rules_provider._show import shown

E = TypeVar("E", bound=enum.Enum)


class WireEnum(str, enum.Enum):
    """A ``str`` enum whose ``str()`` and f-string form is the wire value (``Enum.__format__``
    follows an overridden ``__str__``)."""

    def __str__(self) -> str:
        return str(self.value)


class StudyMode(WireEnum):
    """Study mode, the ``{mode}`` URL segment (sent lowercase)."""

    DESIGN = "design"
    TEST = "test"
    TRAINING = "training"
    PRODUCTION = "production"
    ACTIVE = "active"


class PublishRun(WireEnum):
    """Publish scope: ``AllData`` republishes existing and future data, ``FutureData`` new data only."""

    ALL_DATA = "AllData"
    FUTURE_DATA = "FutureData"


class RuleState(WireEnum):
    """Lifecycle state of a rule."""

    DRAFT = "draft"
    UAT = "uat"
    APPROVED = "approved"
    PUBLISH = "publish"


class SortOrder(WireEnum):
    """Sort order accepted by the filter endpoint."""

    ASC = "ASC"
    DESC = "DESC"


class PublishJobStatus(WireEnum):
    """Per-rule outcome of a publish-run update."""

    SUCCESS = "Success"
    FAILED = "Failed"
    ERROR = "Error"
    IN_PROGRESS = "InProgress"
    QUEUED = "Queued"


class RuleJobStatus(WireEnum):
    """Status of a Clinical One rule job (rerun history, cancel and job-status responses)."""

    RUNNING = "Running"
    SUCCESS = "Success"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    COMPLETED_WITH_ERRORS = "Completed with errors"
    PENDING = "Pending"
    NOT_IN_PUBLISH_STATE = "Rule is not in publish state"
    INVALID = "Rule is invalid"
    DISABLED = "Rule is disabled"
    DOES_NOT_EXIST = "Rule doesn't exist"
    FAILED_TO_CANCEL = "Failed to cancel job"
    SKIPPED_SUBJECT_LOCKED = "Skipped because subject is locked"


class VaultJobStatus(WireEnum):
    """Status of a Vault job instance."""

    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    QUEUEING = "QUEUEING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    SUCCESS = "SUCCESS"
    ERRORS_ENCOUNTERED = "ERRORS_ENCOUNTERED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    COMPLETED_DUE_TO_INACTIVITY = "COMPLETED_DUE_TO_INACTIVITY"
    MISSED_SCHEDULE = "MISSED_SCHEDULE"


JobPhase = Literal["success", "failure", "active", "unknown"]


def _values(*members: WireEnum) -> frozenset[str]:
    return frozenset(m.value for m in members)


# Seed 002: `InProgress` is "an active update" and `Queued` "processing has not started yet";
# both are accepted updates (the rule's job follows). Only `Failed` and `Error` are failures,
# plus the provider's synthetic `Missing` for a rule the service did not report on.
PUBLISH_ACCEPTED_STATUSES = _values(
    PublishJobStatus.SUCCESS, PublishJobStatus.IN_PROGRESS, PublishJobStatus.QUEUED
)
PUBLISH_MISSING_STATUS = "Missing"

RULE_JOB_SUCCESS_STATUSES = _values(RuleJobStatus.SUCCESS)
# "Failed to cancel job" means the cancel failed and the job is still running.
RULE_JOB_ACTIVE_STATUSES = _values(
    RuleJobStatus.RUNNING, RuleJobStatus.PENDING, RuleJobStatus.FAILED_TO_CANCEL
)
# Every other status ends the job without success: failed, cancelled, completed with errors,
# a rule that cannot run (not in publish state, invalid, disabled, gone), a locked subject.
RULE_JOB_FAILURE_STATUSES = _values(*RuleJobStatus) - RULE_JOB_SUCCESS_STATUSES - RULE_JOB_ACTIVE_STATUSES

VAULT_JOB_CANCELLABLE_STATUSES = _values(
    VaultJobStatus.SCHEDULED, VaultJobStatus.QUEUED, VaultJobStatus.QUEUEING
)
VAULT_JOB_ACTIVE_STATUSES = VAULT_JOB_CANCELLABLE_STATUSES | _values(
    VaultJobStatus.RUNNING, VaultJobStatus.CANCELLING
)
VAULT_JOB_SUCCESS_STATUSES = _values(VaultJobStatus.SUCCESS)
VAULT_JOB_FAILURE_STATUSES = _values(*VaultJobStatus) - VAULT_JOB_SUCCESS_STATUSES - VAULT_JOB_ACTIVE_STATUSES


def status_value(status: str | enum.Enum | None) -> str | None:
    """Return the wire string of a status whether it parsed into an enum or stayed a string."""
    return str(status.value) if isinstance(status, enum.Enum) else status


def _phase(
    status: str | enum.Enum | None, success: frozenset[str], failure: frozenset[str], active: frozenset[str]
) -> JobPhase:
    value = status_value(status)
    if value in success:
        return "success"
    if value in failure:
        return "failure"
    return "active" if value in active else "unknown"


def rule_job_phase(status: str | enum.Enum | None) -> JobPhase:
    """Classify a rule job status; unknown values are ``"unknown"`` (callers treat them as active)."""
    return _phase(status, RULE_JOB_SUCCESS_STATUSES, RULE_JOB_FAILURE_STATUSES, RULE_JOB_ACTIVE_STATUSES)


def vault_job_phase(status: str | enum.Enum | None) -> JobPhase:
    """Classify a Vault job status the same way as :func:`rule_job_phase`."""
    return _phase(status, VAULT_JOB_SUCCESS_STATUSES, VAULT_JOB_FAILURE_STATUSES, VAULT_JOB_ACTIVE_STATUSES)


def parse_choice(value: object, enum_type: type[E], field: str, *, case_insensitive: bool = True) -> E:
    """Return the member of ``enum_type`` that ``value`` names, or raise ``ValueError`` naming ``field``."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        for member in enum_type:
            wire = str(member.value)
            if value == wire or (case_insensitive and value.lower() == wire.lower()):
                return member
    accepted = ", ".join(str(m.value) for m in enum_type)
    raise ValueError(f"{field}: {shown(value)} is not accepted; expected one of: {accepted}")


def parse_choices(values: Iterable[object] | None, enum_type: type[E], field: str) -> list[E]:
    """Validate an iterable of choices (not a bare string), dropping duplicates."""
    if values is None or isinstance(values, (str, bytes)):
        raise ValueError(f"{field}: expected a list of values, got {type(values).__name__}")
    members = [parse_choice(v, enum_type, f"{field}[{i}]") for i, v in enumerate(values)]
    return list(dict.fromkeys(members))
