"""Finishing a wait: run a trigger in the worker, and turn its event into a result or an error."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from clinical_rules_provider._compat import AirflowException, AirflowSensorTimeout

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger


async def first_event(trigger: BaseTrigger) -> dict[str, Any]:
    """The payload of the first event ``trigger.run()`` yields (our triggers yield exactly one)."""
    async for event in trigger.run():
        return dict(event.payload)
    raise RuntimeError(f"{type(trigger).__name__} ended without an event")


def run_in_worker(trigger: BaseTrigger) -> dict[str, Any]:
    """Run a trigger to its event in this process: the non-deferrable twin of deferring to it,
    so waiting in a worker and in the triggerer share one poll loop."""
    return asyncio.run(first_event(trigger))


def raise_for_event(event: dict[str, Any]) -> dict[str, Any]:
    """Turn a job trigger event into a return value or the matching exception."""
    status = event.get("status")
    if status == "success":
        return dict(event.get("outcome") or {})
    if status == "timeout":
        raise AirflowSensorTimeout(event.get("message"))
    raise AirflowException(event.get("message") or f"job wait ended with {status!r}")
