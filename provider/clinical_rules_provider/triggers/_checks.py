"""Argument checks every trigger runs in its constructor.

A trigger is built twice: where it is created (DAG parse for an ``AssetWatcher``, ``defer()``
in a worker) and again in the triggerer from its serialized kwargs. Checking here makes bad
settings a ``ValueError`` at the first of those, naming the field, instead of a trigger that
stalls the triggerer's event loop (a NaN sleep) or raises out of ``run()`` there.

Imports nothing but the standard library: the event trigger's module loads on DAG parse.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any


class TriggerArgumentError(ValueError, TypeError):
    """A trigger argument out of range: a ``ValueError`` that is also a ``TypeError``.

    ``ValueError`` for callers (bad input, before any request). ``TypeError`` because that is
    what Airflow's triggerer expects from a trigger that cannot be rebuilt from a stored row
    (say, one written by an older provider that accepted ``poll_interval=0.5``): it fails
    that one trigger ("failed to inflate") instead of stopping the triggerer's loop.
    """


@contextlib.contextmanager
def arguments() -> Iterator[None]:
    """Checks of values (:mod:`~clinical_rules_provider.models.refs`) run inside raise their
    ``ValueError`` as a :class:`TriggerArgumentError`: the same message, naming the field."""
    try:
        yield
    except TriggerArgumentError:
        raise
    except ValueError as exc:
        raise TriggerArgumentError(str(exc)) from None


# The documented floors (docs/polling.md): a Clinical One poll at most once a second (the
# sensors' ``MIN_RULE_POLL_INTERVAL``), a Vault job's status at most once per 10 s (Vault's
# own limit). Module attributes so the test suite can lower them for fast simulator runs.
RULE_POLL_FLOOR = 1.0
VAULT_POLL_FLOOR = 10.0


def seconds(value: Any, field: str, *, minimum: float = 0.0) -> float:
    """A finite number of seconds ``>= minimum`` (NaN, infinity, bools and strings refused)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            number = math.inf
        if math.isfinite(number) and number >= minimum:
            return number
    raise TriggerArgumentError(
        f"{field}: expected a finite number of seconds >= {minimum:g}, got {str(value)[:100]!r}"
    )


def rule_poll_interval(value: Any, field: str = "poll_interval") -> float:
    """A Clinical One poll interval: finite, at least :data:`RULE_POLL_FLOOR` seconds."""
    return seconds(value, field, minimum=RULE_POLL_FLOOR)


def vault_poll_interval(value: Any) -> float:
    """A Vault poll interval: finite, at least :data:`VAULT_POLL_FLOOR` seconds."""
    return seconds(value, "poll_interval", minimum=VAULT_POLL_FLOOR)


def epoch(value: Any, field: str) -> float:
    """An absolute deadline in epoch seconds: any finite number."""
    try:
        return seconds(value, field, minimum=-math.inf)
    except TriggerArgumentError:
        raise TriggerArgumentError(
            f"{field}: expected finite epoch seconds, got {str(value)[:100]!r}"
        ) from None


def delay(value: Any, field: str) -> float:
    """A finite delay in seconds; a negative one means no delay."""
    return max(seconds(value, field, minimum=-math.inf), 0.0)


def concurrency(value: Any) -> int | None:
    """``max_concurrency``: ``None`` (the connection's) or a positive integer."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise TriggerArgumentError(
        f"max_concurrency: expected a positive integer or None, got {str(value)[:100]!r}"
    )
