"""Deferred job waits: one event from the shared poll loop, by an absolute deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from clinical_rules_provider.hooks.base import ServiceHook
from clinical_rules_provider.triggers import SerializesArguments
from clinical_rules_provider.triggers._loop import Failure, poll_cycles

if TYPE_CHECKING:
    from clinical_rules_provider.job_watch import Outcome

H = TypeVar("H", bound=ServiceHook[Any])


class JobPollingTrigger(SerializesArguments, BaseTrigger, Generic[H]):
    """Polls until every job is terminal or ``end_time`` (epoch seconds) passes, and fires
    exactly one event: ``success``, ``failure`` (a job reached a failure status), ``timeout`` or
    ``error`` (anything else: the trigger never crashes), with a ``message``, ``polls``, and
    ``outcome`` (success, failure) or ``waiting`` (timeout). A transient error is logged and
    the poll repeats until ``end_time``, which also bounds every request.

    ``first_poll_delay`` (seconds) holds the first poll back, so the trigger cannot fire within
    moments of ``defer()`` (docs/running-at-scale.md#scheduler-race).
    """

    noun = "job(s)"
    end_time: float
    poll_interval: float
    first_poll_delay: float = 0.0
    cancel_on_kill: bool = False

    def open_hook(self) -> H:
        """The hook one run polls with (closed when the run ends)."""
        raise NotImplementedError

    def waiting_at_start(self) -> dict[str, str]:
        """What the run waits on before the first poll answered."""
        raise NotImplementedError

    label = "{}"
    """How a waiting job is named in the timeout message."""

    async def poll(self, hook: H) -> Outcome[Any, Any] | Failure:
        """One poll of every job (a :class:`Failure` when a shared poll answered with one)."""
        raise NotImplementedError

    def release(self) -> None:
        """Give up what a run holds besides its hook (a seat in a shared poll); idempotent."""

    async def cleanup(self) -> None:
        """Release however the run ended (fired, timed out, cancelled)."""
        self.release()
        await super().cleanup()

    async def cancel(self, hook: H) -> None:
        """Cancel the watched jobs (on kill)."""
        raise NotImplementedError

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user killed the task; cancel the jobs when ``cancel_on_kill`` is set.

        Not when the task is still ``deferred``: Airflow 3.3.2 also calls this when the trigger
        moved to another triggerer (docs/running-at-scale.md#ha-guarantees).
        """
        if not self.cancel_on_kill:
            return
        if await task_still_deferred(self):
            self.log.warning(
                "Not cancelling: the task is still deferred (its trigger moved to another triggerer)"
            )
            return
        hook = self.open_hook()
        try:
            await asyncio.wait_for(self.cancel(hook), 30)
        finally:
            await hook.aclose()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until done (:func:`~clinical_rules_provider.triggers._loop.poll_cycles`);
        never blocks the event loop, never raises."""
        hook: H | None = None
        waiting = self.waiting_at_start()
        polls = 0

        async def cycle() -> dict[str, Any] | Failure:
            """One poll, judged: the verdict once every job is done, else what is waited on."""
            nonlocal hook
            hook = hook or self.open_hook()  # in the cycle: a hook that cannot be built is an error event
            await hook.aconfig()
            with hook.time_limit(self.end_time - time.time()):
                outcome = await self.poll(hook)
            if isinstance(outcome, Failure):
                return outcome
            report = outcome.to_json()
            if not outcome.done:
                return {"waiting": report["waiting"]}
            if outcome.failed:
                return {"status": "failure", "message": outcome.failure_message(), "outcome": report}
            finished = f"all {len(report['succeeded'])} {self.noun} finished"
            return {"status": "success", "message": finished, "outcome": report}

        cycles = poll_cycles(
            cycle,
            what=self.noun,
            interval=lambda: self.poll_interval,
            log=self.log,
            first_delay=min(self.first_poll_delay, self.end_time - time.time()),
            deadline=self.end_time,
        )
        try:
            async for answer in cycles:
                polls += 1
                if isinstance(answer, Failure) and answer.transient:
                    self.log.warning(
                        "Transient error while polling %s (will poll again): %s", self.noun, answer.message
                    )
                    answer = {}
                elif isinstance(answer, Failure):
                    answer = {"status": "error", "message": answer.message}
                elif "waiting" in answer:
                    waiting = answer["waiting"]
                    self.log.info("Waiting on %d %s", len(waiting), self.noun)
                if "status" not in answer and time.time() >= self.end_time:
                    answer = self._timed_out(waiting)
                if "status" in answer:
                    yield TriggerEvent({**answer, "polls": polls})
                    return
        finally:
            self.release()
            if hook is not None:
                await hook.aclose()

    def _timed_out(self, waiting: dict[str, str]) -> dict[str, Any]:
        pending = "; ".join(f"{self.label.format(key)}: {why}" for key, why in sorted(waiting.items()))
        message = f"timed out waiting on {len(waiting)} {self.noun}: {pending}"
        return {"status": "timeout", "message": message, "waiting": waiting}


async def task_still_deferred(trigger: BaseTrigger) -> bool:
    """Whether the trigger's task instance is still ``deferred``, asked of Airflow (the
    triggerer's task-state call). False when the trigger runs without a task instance (a
    test, an older Airflow) or the answer cannot be had: then Airflow's "user action" stands.
    """
    ti = getattr(trigger, "task_instance", None)
    if ti is None:
        return False
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
        )
        key = ti.task_id if ti.map_index is None or ti.map_index < 0 else f"{ti.task_id}_{ti.map_index}"
        return bool(states[ti.run_id][key] == "deferred")
    except Exception as exc:  # any failure: keep Airflow's word that a user acted
        trigger.log.warning("Could not read the task's state before cancelling (%s)", type(exc).__name__)
        return False
