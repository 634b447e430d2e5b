"""Airflow names that moved between 3.x releases, imported from where each release has them."""

from __future__ import annotations

try:  # Airflow 3.1+: the task SDK owns the exceptions
    from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import AirflowException, AirflowSensorTimeout  # type: ignore[no-redef,attr-defined]

__all__ = ["AirflowException", "AirflowSensorTimeout"]
