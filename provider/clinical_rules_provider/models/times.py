"""Times the provider compares with ``jobStartDate``: aware, UTC-based, millisecond precision.
Cheap to import (pendulum only), so every task and trigger shares one reading of
``started_after`` and one clock.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pendulum

from clinical_rules_provider._show import shown

__all__ = ["as_aware_datetime", "floor_to_millisecond", "utc_now"]

# What a threshold string must look like before pendulum may read it: a date, a time and an
# offset. (pendulum alone also reads "-1", a bare year, a week date or a bare time of today.)
_AWARE_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)", re.IGNORECASE
)


def as_aware_datetime(value: Any, field: str) -> datetime | None:
    """Accept an aware datetime or an ISO-8601 string with a date, a time and an offset
    (templated values arrive as strings); ``None`` or ``""`` mean "not given". A naive time is
    refused, since which zone it meant cannot be known; so is anything else pendulum would
    read as a date (``"-1"``, ``"2026"``, ``"12:00"``)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field}: expected an aware datetime (with a time zone), got a naive one")
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40 or not _AWARE_TIMESTAMP.fullmatch(text):
            raise ValueError(
                f"{field}: {shown(value)} is not an ISO-8601 timestamp with a date, a time and an offset"
                " (e.g. 2026-01-31T12:00:00+00:00)"
            )
        try:
            parsed = pendulum.parse(text)
        except (ValueError, OverflowError, pendulum.parsing.exceptions.ParserError):
            raise ValueError(f"{field}: {shown(value)} is not an ISO-8601 timestamp") from None
        if isinstance(parsed, datetime) and parsed.tzinfo is not None:
            return parsed
    raise ValueError(
        f"{field}: expected an aware datetime or ISO-8601 string with an offset, got {shown(value)}"
    )


def floor_to_millisecond(moment: datetime) -> datetime:
    """``jobStartDate`` has millisecond precision: a job started in the same millisecond as
    a threshold must count, so thresholds are compared at that precision."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    """The current time, aware, in UTC, to the millisecond (the precision of ``jobStartDate``)."""
    return floor_to_millisecond(pendulum.now("UTC"))
