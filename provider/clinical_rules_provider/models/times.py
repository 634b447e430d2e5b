"""Times the provider compares with ``jobStartDate``: aware, UTC-based, millisecond precision.

Importable without Airflow (and cheap: pendulum only), so operators, sensors and triggers
share one reading of ``started_after`` and one clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pendulum

__all__ = ["as_aware_datetime", "floor_to_millisecond", "utc_now"]


def as_aware_datetime(value: Any, field: str) -> datetime | None:
    """Accept an aware datetime or an ISO-8601 string with an offset (templated values arrive
    as strings); ``None`` or ``""`` mean "not given". A naive time is refused, since which zone
    it meant cannot be known."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field}: expected an aware datetime (with a time zone), got a naive one")
        return value
    if isinstance(value, str):
        try:
            parsed = pendulum.parse(value)
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            raise ValueError(f"{field}: {value[:100]!r} is not an ISO-8601 timestamp") from None
        if isinstance(parsed, datetime) and parsed.tzinfo is not None:
            return parsed
    raise ValueError(
        f"{field}: expected an aware datetime or ISO-8601 string with an offset, got {str(value)[:100]!r}"
    )


def floor_to_millisecond(moment: datetime) -> datetime:
    """``jobStartDate`` has millisecond precision: a job started in the same millisecond as
    a threshold must count, so thresholds are compared at that precision."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    """The current time, aware, in UTC, to the millisecond (the precision of ``jobStartDate``)."""
    return floor_to_millisecond(pendulum.now("UTC"))
