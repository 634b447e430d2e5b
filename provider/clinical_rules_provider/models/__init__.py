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

# The submodule each name lives in (``clinical_one`` unless listed), imported on first use.
_ENUMS = (
    "PublishJobStatus",
    "PublishRun",
    "RuleJobStatus",
    "RuleState",
    "SortOrder",
    "StudyMode",
    "VaultJobStatus",
)
_VAULT = ("VaultAuthResponse", "VaultError", "VaultJob", "VaultJobCancelResult")
_WHERE = {
    **dict.fromkeys(__all__, "clinical_one"),
    **dict.fromkeys(_ENUMS, "enums"),
    **dict.fromkeys(_VAULT, "vault"),
}


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
