"""Run the provider's operators and sensor end to end, as Airflow would, without a scheduler.

A task runs ``execute``; a deferral is handled like the triggerer does it: the trigger is
rebuilt from ``serialize()``, run until its first event, and the task resumes in the named
method. XCom pushes land in a dict so they can be checked (and scanned for secrets).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any


class FakeTaskInstance:
    """Just enough of a TaskInstance for the provider's operators: XCom push and pull."""

    def __init__(self, task_id: str, xcoms: dict[tuple[str, str], Any]) -> None:
        self.task_id = task_id
        self.xcoms = xcoms

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[(self.task_id, key)] = value

    def xcom_pull(self, task_ids: str | list[str] | None = None, key: str = "return_value") -> Any:
        if isinstance(task_ids, str):
            return self.xcoms.get((task_ids, key))
        return [self.xcoms.get((t, key)) for t in task_ids or []]


def context_for(task_id: str, xcoms: dict[tuple[str, str], Any], interval_start: datetime) -> dict[str, Any]:
    """A task context with ``ti`` and the data interval."""
    return {
        "ti": FakeTaskInstance(task_id, xcoms),
        "data_interval_start": interval_start,
        "logical_date": interval_start,
    }


def run_task(task: Any, context: Mapping[str, Any], upstream: tuple[str, ...] = ()) -> Any:
    """Execute a task; on deferral, round-trip the trigger through ``serialize()`` and resume."""
    from clinical_rules_provider._compat import TaskDeferred
    from clinical_rules_provider.task_helpers import run_in_worker

    if upstream:
        task.upstream_task_ids.update(upstream)
    try:
        result = task.execute(context)
    except TaskDeferred as deferred:
        classpath, kwargs = deferred.trigger.serialize()
        module, _, name = classpath.rpartition(".")
        trigger = getattr(importlib.import_module(module), name)(**kwargs)
        resume = getattr(task, deferred.method_name)
        result = resume(context, event=run_in_worker(trigger), **(deferred.kwargs or {}))
    context["ti"].xcom_push("return_value", result)
    return result
