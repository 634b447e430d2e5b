"""Pydantic v2 models and id/enum validation; importable without Airflow."""

from clinical_rules_provider.models.clinical_one import (
    CancelRuleJobsResult,
    ErrorDetail,
    JobStatusResult,
    PublishRunResult,
    RerunHistory,
    RuleFilter,
    RuleJob,
    RuleListPage,
    RuleSummary,
)
from clinical_rules_provider.models.enums import (
    PublishJobStatus,
    PublishRun,
    RuleJobStatus,
    RuleState,
    SortOrder,
    StudyMode,
    VaultJobStatus,
)
from clinical_rules_provider.models.vault import VaultAuthResponse, VaultError, VaultJob, VaultJobCancelResult

__all__ = [
    "CancelRuleJobsResult",
    "ErrorDetail",
    "JobStatusResult",
    "PublishJobStatus",
    "PublishRun",
    "PublishRunResult",
    "RerunHistory",
    "RuleFilter",
    "RuleJob",
    "RuleJobStatus",
    "RuleListPage",
    "RuleState",
    "RuleSummary",
    "SortOrder",
    "StudyMode",
    "VaultAuthResponse",
    "VaultError",
    "VaultJob",
    "VaultJobCancelResult",
    "VaultJobStatus",
]
