"""Argument checks every trigger runs in its constructor.

A trigger is built where it is created (DAG parse, ``defer()``) and again in the triggerer
from its serialized kwargs: a bad setting is a ``ValueError`` naming the field at the first,
never a stalled event loop (a NaN sleep) or a raise out of ``run()`` at the second.
Imports nothing but the standard library: the event trigger's module loads on DAG parse.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any


class TriggerArgumentError(ValueError, TypeError):
    """A trigger argument out of range: a ``ValueError`` for callers, and a ``TypeError``
    because on that Airflow's triggerer fails the one trigger that cannot be rebuilt from a
    stored row ("failed to inflate") instead of stopping its loop."""


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


# The documented floors (docs/polling.md): Clinical One at most once a second, a Vault job's
# status at most once per 10 s. Module attributes so the suite can lower them.
RULE_POLL_FLOOR = 1.0
VAULT_POLL_FLOOR = 10.0


def seconds(value: Any, field: str, *, minimum: float = 0.0, form: str = "") -> float:
    """A finite number of seconds ``>= minimum`` (NaN, infinity, bools and strings refused)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int beyond float range
            if math.isfinite(number := float(value)) and number >= minimum:
                return number
    form = form or f"a finite number of seconds >= {minimum:g}"
    raise TriggerArgumentError(f"{field}: expected {form}, got {str(value)[:100]!r}")


def rule_poll_interval(value: Any, field: str = "poll_interval") -> float:
    """A Clinical One poll interval: finite, at least :data:`RULE_POLL_FLOOR` seconds."""
    return seconds(value, field, minimum=RULE_POLL_FLOOR)


def epoch(value: Any, field: str) -> float:
    """An absolute deadline in epoch seconds: any finite number."""
    return seconds(value, field, minimum=-math.inf, form="finite epoch seconds")


def delay(value: Any, field: str) -> float:
    """A finite delay in seconds; a negative one means no delay."""
    return max(seconds(value, field, minimum=-math.inf, form="a finite number of seconds"), 0.0)


def concurrency(value: Any) -> int | None:
    """``max_concurrency``: ``None`` (the connection's) or a positive integer."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise TriggerArgumentError(
        f"max_concurrency: expected a positive integer or None, got {str(value)[:100]!r}"
    )
