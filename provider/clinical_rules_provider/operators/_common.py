"""Helpers the operators and sensors share: defaults from the connection, XCom-safe data, time."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum

if TYPE_CHECKING:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook


def resolve_study(hook: ClinicalOneHook, study_id: Any, study_mode: Any) -> tuple[str, str]:
    """``study_id``/``study_mode`` from the task, else from the connection extra; validated."""
    from clinical_rules_provider.clients.clinical_one import study_path_args

    config = hook.config
    study = study_id or config.study_id
    mode = study_mode or config.study_mode
    if not study:
        raise ValueError("study_id: not given, and the connection extra has no study_id")
    if not mode:
        raise ValueError("study_mode: not given, and the connection extra has no study_mode")
    args = study_path_args(study, mode)
    return args["study_id"], args["mode"]


def select_rules(hook: ClinicalOneHook, study: str, mode: str, rule_ids: Any, rule_filter: Any) -> list[str]:
    """``rule_ids`` as a list (one templated id may arrive as a string), else the ids of the
    rules ``list_rules`` returns for ``rule_filter`` (no filter: every rule)."""
    if rule_ids is not None:
        return [rule_ids] if isinstance(rule_ids, str) else list(rule_ids)
    filters = {} if rule_filter is None else rule_filter
    if not isinstance(filters, dict):
        raise ValueError(f"rule_filter: expected a dict of list_rules filters, got {rule_filter!r}")
    return [rule.rule_id for rule in hook.list_rules(study, mode, **filters)]


def as_aware_datetime(value: Any, field: str) -> datetime | None:
    """Accept an aware datetime or an ISO-8601 string (templated values arrive as strings)."""
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
            raise ValueError(f"{field}: {value!r} is not an ISO-8601 timestamp") from None
        if isinstance(parsed, datetime) and parsed.tzinfo is not None:
            return parsed
    raise ValueError(f"{field}: expected an aware datetime or ISO-8601 string with an offset, got {value!r}")


# The shortest poll interval of a Clinical One wait (Vault's floor is its 10 s status limit).
MIN_RULE_POLL_INTERVAL = 1.0


def as_seconds(value: Any, field: str, *, minimum: float = 0.0) -> float:
    """A ``timedelta`` or a finite number of seconds, at least ``minimum`` (NaN and infinity refused)."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    try:
        finite = (
            not isinstance(seconds, bool) and isinstance(seconds, (int, float)) and math.isfinite(seconds)
        )
    except OverflowError:  # an int beyond float range
        finite = False
    if not finite or seconds < minimum:
        shown = repr(value) if len(repr(value)) <= 100 else repr(value)[:97] + "..."
        raise ValueError(
            f"{field}: expected a timedelta or a finite number of seconds >= {minimum}, got {shown}"
        )
    return float(seconds)


def rule_poll_interval(value: Any) -> float:
    """A Clinical One ``poll_interval``: seconds, at least :data:`MIN_RULE_POLL_INTERVAL`."""
    return as_seconds(value, "poll_interval", minimum=MIN_RULE_POLL_INTERVAL)


def as_bool(value: Any, field: str) -> bool:
    """A bool, or its templated string form (``"True"``/``"false"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{field}: expected True or False, got {value!r}")


def utc_now() -> datetime:
    """The current time, aware, in UTC, to the millisecond (the precision of ``jobStartDate``)."""
    now = pendulum.now("UTC")
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
