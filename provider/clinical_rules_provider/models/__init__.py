"""Pydantic v2 models and id/enum validation; importable without Airflow.

The names below load on first use (PEP 562): a DAG file that only needs the enums or the
id checks (``models.enums``, ``models.ids``) does not pay for building the pydantic models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinical_rules_provider._lazy import lazy_exports

if TYPE_CHECKING:
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
    from clinical_rules_provider.models.vault import (
        VaultAuthResponse,
        VaultError,
        VaultJob,
        VaultJobCancelResult,
    )

_MODULES = {
    "clinical_one": (
        "CancelRuleJobsResult",
        "ErrorDetail",
        "JobStatusResult",
        "PublishRunResult",
        "RerunHistory",
        "RuleFilter",
        "RuleJob",
        "RuleListPage",
        "RuleSummary",
    ),
    "enums": (
        "PublishJobStatus",
        "PublishRun",
        "RuleJobStatus",
        "RuleState",
        "SortOrder",
        "StudyMode",
        "VaultJobStatus",
    ),
    "vault": ("VaultAuthResponse", "VaultError", "VaultJob", "VaultJobCancelResult"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

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


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
