"""All cancel operators, importable from one place."""

from clinical_rules_provider.operators.cancel_rule_jobs import (
    ClinicalOneCancelRuleJobsOperator,
    ClinicalOneCancelStaleRuleJobsOperator,
)
from clinical_rules_provider.operators.cancel_vault_jobs import (
    VaultCancelJobsOperator,
    VaultCancelStaleJobsOperator,
)

__all__ = [
    "ClinicalOneCancelRuleJobsOperator",
    "ClinicalOneCancelStaleRuleJobsOperator",
    "VaultCancelJobsOperator",
    "VaultCancelStaleJobsOperator",
]
