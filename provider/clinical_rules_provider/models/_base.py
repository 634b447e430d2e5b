"""Shared pydantic building blocks: camelCase wire names and lenient scalar parsing."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Annotated, Any

import pendulum
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic.alias_generators import to_camel

from clinical_rules_provider._show import shown
from clinical_rules_provider.models.enums import E

_JOB_START_STRPTIME = "%Y-%m-%d %H:%M:%S.%f"


class CamelModel(BaseModel):
    """A model with snake_case attributes and the API's camelCase on the wire; unknown fields
    are kept (``extra="allow"``) so nothing the service sends is lost."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True, extra="allow"
    )


def _lenient_bool(value: Any) -> Any:
    """Accept the services' many spellings of a flag: ``"true"``, ``"1"``, ``1``, ``True``."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1", "y", "yes"}:
            return True
        if lowered in {"false", "0", "n", "no"}:
            return False
        if lowered == "":
            return None
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


LenientBool = Annotated[bool | None, BeforeValidator(_lenient_bool)]


@functools.lru_cache(maxsize=32)
def _zone(name: str) -> Any:
    return pendulum.timezone(name)


# What a timestamp must look like before pendulum may read it: a date and a time. (pendulum's
# lenient parser also reads "now", "today" or a bare year, which are no timestamps.)
_ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?")


def parse_service_time(value: Any, timezone: str = "UTC") -> datetime | None:
    """Parse ``yyyy-MM-dd HH:mm:ss.SSS`` in ``timezone`` (the connection's ``service_timezone``),
    or an ISO-8601 timestamp with a date and a time, into an aware datetime. Anything else
    (``"now"``, an impossible date) is returned unchanged so pydantic reports it against the field.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_zone(timezone))
    if not isinstance(value, str):
        return value  # type: ignore[no-any-return]
    try:  # the documented form; strptime is ~4x faster than pendulum.from_format
        return datetime.strptime(value, _JOB_START_STRPTIME).replace(tzinfo=_zone(timezone))
    except ValueError:
        pass
    if len(value) > 40 or not _ISO_TIMESTAMP.fullmatch(value.strip()):
        return value  # type: ignore[return-value]
    try:
        parsed = pendulum.parse(value.strip(), tz=timezone, strict=False)
    except (ValueError, OverflowError, pendulum.parsing.exceptions.ParserError):
        return value  # type: ignore[return-value]
    return parsed if isinstance(parsed, datetime) else value  # type: ignore[return-value]


def _service_time(value: Any, info: ValidationInfo) -> Any:
    """Only text in the documented form (or an ISO-8601 timestamp) is a ``jobStartDate``:
    a number (``-1``, ``0``), a numeric string or anything else pydantic would read as a Unix
    time is refused, never dated 1969/1970."""
    context = info.context if isinstance(info.context, dict) else {}
    parsed = parse_service_time(value, context.get("service_timezone", "UTC"))
    if parsed is None or isinstance(parsed, datetime):
        return parsed
    raise ValueError(
        f"expected a timestamp yyyy-MM-dd HH:mm:ss.SSS (or ISO-8601 with date and time), got {shown(value)}"
    )


ServiceTime = Annotated[datetime | None, BeforeValidator(_service_time)]
"""A timestamp in the service timezone, taken from the validation context (default UTC)."""


UtcTime = Annotated[datetime | None, BeforeValidator(lambda value: parse_service_time(value, "UTC"))]
"""An ISO-8601 timestamp; naive values are read as UTC."""


def aka(*names: str) -> Any:
    """A field (default ``None``) read under any of ``names``: the wire spelling first."""
    return Field(default=None, validation_alias=AliasChoices(*names))


OpenEnum = Annotated[E | str | None, Field(union_mode="left_to_right")]
"""An enum field that keeps unknown values as plain strings instead of failing validation."""
