"""Airflow names that moved between 3.x releases, imported from where each release has them.

Operators import this module when a DAG file is parsed, so it holds only names that are
cheap there; ``BaseHook`` is resolved in :mod:`clinical_rules_provider.hooks.base`.
"""

from __future__ import annotations

try:  # Airflow 3.2+ (task SDK 1.2): the task SDK owns the exceptions
    from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferred
except ImportError:  # pragma: no cover - Airflow 3.0 and 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowException,
        AirflowSensorTimeout,
        TaskDeferred,
    )

try:  # Airflow 3.2+; the sensor base class catches this very class for soft_fail
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.0 and 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

__all__ = ["AirflowException", "AirflowFailException", "AirflowSensorTimeout", "TaskDeferred"]
