"""Identifier validation and normalisation, applied before any request is built. Some endpoints
demand one id spelling (``ruleIds`` uppercase compact, ``formId`` hyphenated), so every id is
accepted in either form and rewritten into the one its field needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from clinical_rules_provider._show import shown

MAX_IDS_PER_REQUEST = 500

_COMPACT = re.compile(r"[0-9A-Fa-f]{32}")
_HYPHENATED = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_ID_FORMS = "32 hex digits or a hyphenated 36-character UUID"

T = TypeVar("T")


def compact_id(value: object, field: str) -> str:
    """Return ``value`` as uppercase compact 32-hex (``studyId``, ``ruleId``, ``userId``)."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an id string ({_ID_FORMS}), got {type(value).__name__}")
    if _COMPACT.fullmatch(value):
        return value.upper()
    if _HYPHENATED.fullmatch(value):
        return value.replace("-", "").upper()
    raise ValueError(f"{field}: {shown(value)} is not a valid id; expected {_ID_FORMS}")


def hyphenated_id(value: object, field: str) -> str:
    """Return ``value`` as uppercase hyphenated 36 characters (``formId``, ``itemId``)."""
    h = compact_id(value, field)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def vault_job_id(value: object, field: str) -> int:
    """Return a Vault job id as a positive int; numeric strings (templated values) are accepted."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a positive integer job id, got a bool")
    if isinstance(value, int) or (
        isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20
    ):
        number = int(value)
    else:
        raise ValueError(f"{field}: {shown(value)} is not a Vault job id; expected a positive integer")
    if number <= 0:
        raise ValueError(f"{field}: {number} is not a Vault job id; expected a positive integer")
    return number


def page_size_value(value: object, maximum: int) -> int:
    """Validate a pager's ``page_size``: an integer from 1 to ``maximum`` (a bool is no size)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(f"page_size: expected an integer from 1 to {maximum}, got {shown(value)}")
    return value


def normalize_list(values: Any, field: str, normalize: Callable[[object, str], T]) -> list[T]:
    """Validate every item of a non-empty iterable, then drop duplicates keeping first-seen order
    (a bare string is refused: iterating it would turn one id into 32 bad ones)."""
    if values is None or isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{field}: expected a non-empty list, got {type(values).__name__}")
    values = list(values)
    try:
        items = [normalize(value, field) for value in values]
    except ValueError:
        # Name the offending position; formatting it up front would cost more than the check.
        for index, value in enumerate(values):
            normalize(value, f"{field}[{index}]")
        raise
    if not items:
        raise ValueError(f"{field}: expected a non-empty list, got an empty one")
    return list(dict.fromkeys(items))


def chunked(items: list[T], size: int = MAX_IDS_PER_REQUEST) -> Iterator[list[T]]:
    """Split ``items`` into request-sized chunks, preserving order."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
