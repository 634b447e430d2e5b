"""What the operators and sensors share: their hooks, reading task arguments (templated values
arrive as strings), study defaults from the connection, and finishing a wait on a job trigger.

Task-side only (triggers, hooks, clients and models never import it) and imported when a DAG
file is parsed, so it loads nothing heavier than Airflow's exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from clinical_rules_provider._compat import AirflowException, AirflowFailException, AirflowSensorTimeout
from clinical_rules_provider._show import shown
from clinical_rules_provider.exceptions import ClinicalRulesError

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
    from clinical_rules_provider.hooks.vault import VaultHook
    from clinical_rules_provider.models.refs import StudyRef


# --- hooks ------------------------------------------------------------------------------


class ClinicalOneHookMixin:
    """``hook`` for a task with ``clinical_one_conn_id`` (and, optionally, ``max_concurrency``)."""

    clinical_one_conn_id: str
    max_concurrency: int | None = None

    @cached_property
    def hook(self) -> ClinicalOneHook:
        """The task's hook (created on first use, after templates are rendered; closed by the task)."""
        from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

        return ClinicalOneHook(self.clinical_one_conn_id, max_concurrency=self.max_concurrency)


class VaultHookMixin:
    """``hook`` for a task with ``vault_conn_id``."""

    vault_conn_id: str

    @cached_property
    def hook(self) -> VaultHook:
        """The task's hook (created on first use, after templates are rendered; closed by the task)."""
        from clinical_rules_provider.hooks.vault import VaultHook

        return VaultHook(self.vault_conn_id)


# --- task arguments ---------------------------------------------------------------------


# The shortest poll interval of a Clinical One wait (Vault's floor is its 10 s status limit).
MIN_RULE_POLL_INTERVAL = 1.0


def as_seconds(value: Any, field: str, *, minimum: float = 0.0) -> float:
    """A ``timedelta`` or a finite number of seconds (a rendered template may give it as a
    numeric string), at least ``minimum``; NaN and infinity are refused."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, (int, float, str)) and not isinstance(seconds, bool):
        # A numeric string may have surrounding whitespace; an int beyond float range is refused.
        with contextlib.suppress(ValueError, OverflowError):
            if math.isfinite(number := float(seconds)) and number >= minimum:
                return number
    raise ValueError(
        f"{field}: expected a timedelta or a finite number of seconds >= {minimum}, got {shown(value)}"
    )


def is_template(value: Any) -> bool:
    """Whether ``value`` is a Jinja template still to be rendered (checked again at execute)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def seconds_at_parse(value: Any, field: str, *, minimum: float = 0.0) -> Any:
    """A templated seconds field when the DAG is parsed: a template is kept as given (``execute``
    checks the rendered value with :func:`as_seconds`); anything else is checked now."""
    return value if is_template(value) else as_seconds(value, field, minimum=minimum)


def rule_poll_interval(value: Any) -> float:
    """A Clinical One ``poll_interval``: seconds, at least :data:`MIN_RULE_POLL_INTERVAL`."""
    return as_seconds(value, "poll_interval", minimum=MIN_RULE_POLL_INTERVAL)


def as_bool(value: Any, field: str) -> bool:
    """A bool, or its templated string form (``"True"``/``"false"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{field}: expected True or False, got {shown(value)}")


# One item of a list string: a quoted id (JSON or Python quotes, no escapes or brackets) or an
# integer; a list string is a flat list of them (a trailing comma allowed).
_LIST_ITEM = re.compile(r"""'([^'\\\[\],]*)'|"([^"\\\[\],]*)"|(-?[0-9]{1,20})""")
_FLAT_LIST = re.compile(rf"\[\s*(?:(?:{_LIST_ITEM.pattern})\s*(?:,\s*|(?=\])))*\]")


def as_id_list(value: Any, field: str) -> Any:
    """The ids a task was given, as a list wherever a single id or a rendered template can
    arrive as a string; the items are validated later, by the client, once.

    A string is ``"[...]"`` (a flat JSON list, or the Python list literal a non-native template
    renders), ``"A,B"`` (comma-separated ids) or one id: never ambiguous, as ids hold no ``[``,
    ``,`` or space. A list string is read by a regex, never by a JSON or Python parser: those
    recurse, and a string nested thousands of levels deep must be a ``ValueError``, in linear
    time. A single ``int`` (a Vault job id from XCom) becomes a one-item list; anything else
    passes through unchanged.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        if _FLAT_LIST.fullmatch(text) is None:
            raise ValueError(
                f"{field}: {shown(value)} is neither a JSON list nor a list literal of ids;"
                " expected one id, comma-separated ids or a list"
            )
        return [
            int(number) if number else single or double for single, double, number in _LIST_ITEM.findall(text)
        ]
    if "," in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    return [text]


def resolve_study(hook: ClinicalOneHook, study_id: Any, study_mode: Any) -> StudyRef:
    """``study_id``/``study_mode`` from the task, else from the connection extra, validated once:
    the hooks take the checked values as they are."""
    from clinical_rules_provider.models.refs import StudyRef

    config = hook.config
    study, mode = study_id or config.study_id, study_mode or config.study_mode
    for field, given in (("study_id", study), ("study_mode", mode)):
        if not given:
            raise ValueError(f"{field}: not given, and the connection extra has no {field}")
    return StudyRef.of(study, mode)


def select_rules(hook: ClinicalOneHook, study: str, mode: str, rule_ids: Any, rule_filter: Any) -> list[str]:
    """``rule_ids`` as a list (see :func:`as_id_list`), else the ids of the rules
    ``list_rules`` returns for ``rule_filter`` (no filter: every rule)."""
    if rule_ids is not None:
        return list(as_id_list(rule_ids, "rule_ids"))
    filters = {} if rule_filter is None else rule_filter
    if not isinstance(filters, dict):
        raise ValueError(f"rule_filter: expected a dict of list_rules filters, got {shown(rule_filter)}")
    return [rule.rule_id for rule in hook.list_rules(study, mode, **filters)]


class InfoLog(Protocol):
    """A task's logger as far as the helpers use it (its class differs across Airflow 3.x)."""

    def info(self, msg: Any, /, *args: Any) -> object:
        """Log at INFO."""

    def warning(self, msg: Any, /, *args: Any) -> object:
        """Log at WARNING."""


def cancel_rule_jobs_on_kill(
    hook: ClinicalOneHook, log: InfoLog, study: str, mode: str, rule_ids: list[str]
) -> None:
    """A killed task's last act: cancel the rules' jobs, log how many were cancelled, and close
    the hook whatever happened (the task's process is about to end)."""
    try:
        result = hook.cancel_rule_jobs(study, mode, rule_ids)
        log.info("Cancelled %d rule job(s) on kill", len(result.cancelled))
    finally:
        hook.close()


# --- finishing a wait -------------------------------------------------------------------


def run_in_worker(trigger: BaseTrigger) -> dict[str, Any]:
    """Run a trigger to its first event (our triggers yield exactly one) in this process: the
    non-deferrable twin of deferring to it, so waiting in a worker and in the triggerer share
    one poll loop."""

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError(f"{type(trigger).__name__} ended without an event")

    return asyncio.run(first_event())


def raise_for_event(event: dict[str, Any]) -> dict[str, Any]:
    """Turn a job trigger event into a return value or the exception the poke path raises:
    ``failure`` is not retried (the job will not succeed on a second look), ``timeout`` is a
    sensor timeout (both skipped with ``soft_fail``), ``error`` (the service refused a poll)
    is a :class:`ClinicalRulesError` that retries cover."""
    status = event.get("status")
    if status == "success":
        return dict(event.get("outcome") or {})
    message = event.get("message") or f"job wait ended with {status!r}"
    if status == "failure":
        raise AirflowFailException(message)
    if status == "timeout":
        raise AirflowSensorTimeout(message)
    if status == "error":
        raise ClinicalRulesError(message)
    raise AirflowException(message)
