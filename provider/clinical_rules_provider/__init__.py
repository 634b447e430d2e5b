"""Apache Airflow provider for Oracle Clinical One rules and Veeva Vault jobs."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow's ProvidersManager reads via the entry point."""
    from clinical_rules_provider._provider_info import PROVIDER_INFO

    return PROVIDER_INFO
