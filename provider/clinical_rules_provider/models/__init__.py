"""Pydantic v2 models and id/enum validation; importable without Airflow.

The names below load on first use (PEP 562): a DAG file that only needs the enums or the
id checks (``models.enums``, ``models.ids``) does not pay for building the pydantic models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use, then keep the name here (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
