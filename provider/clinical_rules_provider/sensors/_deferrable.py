"""What both job sensors share: one poke per poll, and deferral from inside Airflow's poke loop."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseSensorOperator, PokeReturnValue

from clinical_rules_provider._compat import AirflowFailException
from clinical_rules_provider.exceptions import TransientServiceError
from clinical_rules_provider.job_options import first_poll_delay
from clinical_rules_provider.task_helpers import as_seconds, is_template, raise_for_event

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from clinical_rules_provider.hooks.base import ServiceHook
    from clinical_rules_provider.job_watch import Outcome

# Without a sensor timeout, a deferred wait still ends: after a week.
DEFAULT_DEFERRED_TIMEOUT = 7 * 24 * 3600.0


class DeferrableJobSensor(BaseSensorOperator):
    """A sensor whose first poke runs in Airflow's own poke loop and, if ``deferrable`` and not
    done, defers to :meth:`trigger` from inside it.

    So Airflow alone (``execute``, then ``resume_execution`` for what :meth:`execute_complete`
    raises) decides what ``soft_fail``, ``never_fail`` and ``silent_fail`` do: poke,
    reschedule and deferrable modes return the same value and fail, or skip, alike.
    """

    ui_color = "#f4e3c1"
    noun = "jobs"
    """What the sensor waits on, as its log names it."""
    min_poll_interval = 0.0
    """Shortest wait between polls; a shorter ``poll_interval``/``poke_interval`` is raised to it."""
    refused_below = 0.0
    """A ``poll_interval`` shorter than this is refused (a ``ValueError``)."""

    def __init__(
        self,
        *,
        poll_interval: Any = 30.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        self._poke_interval_given = "poke_interval" in kwargs
        if kwargs.get("timeout") is not None:
            as_seconds(kwargs["timeout"], "timeout")  # NaN would never time out; infinity crashes Airflow
        super().__init__(**kwargs)
        if deferrable and self.mode == "reschedule":
            raise ValueError("deferrable / mode: a sensor cannot both defer and reschedule; pick one")
        self.deferrable = deferrable
        self._defer_when_waiting = False
        self.poll_interval = poll_interval
        if not is_template(poll_interval):
            self.apply_poll_interval()  # checked when the DAG is parsed, unless it is a template

    def apply_poll_interval(self) -> None:
        """Check the (rendered) ``poll_interval`` and make it Airflow's ``poke_interval`` too,
        unless ``poke_interval`` was given; both are at least :attr:`min_poll_interval`."""
        checked = as_seconds(self.poll_interval, "poll_interval", minimum=self.refused_below)
        self.poll_interval = max(checked, self.min_poll_interval)
        if self._poke_interval_given:
            self.poke_interval = max(float(self.poke_interval), self.min_poll_interval)
        else:
            self.poke_interval = self.poll_interval

    def trigger(self, context: Context, end_time: float, first_poll_delay: float = 0.0) -> BaseTrigger:
        """The trigger that continues the wait (every parameter of the sensor reaches it)."""
        raise NotImplementedError

    @cached_property
    def hook(self) -> ServiceHook[Any]:
        """The task's hook (the mixin's; closed after each poll)."""
        raise NotImplementedError

    def poll(self, context: Context) -> Outcome[Any, Any]:
        """One poll of every job (bounded by the sensor's timeout)."""
        raise NotImplementedError

    def poke(self, context: Context) -> PokeReturnValue:
        """One poll: done (the outcome is the XCom value) or not; within a deferrable
        :meth:`execute`, a wait that is not over defers. A transient error only means "not yet".
        A failure status is final: :class:`AirflowFailException` (no retry; ``soft_fail`` skips).
        """
        outcome = None
        try:
            with self.hook.time_limit(self.seconds_left()):
                outcome = self.poll(context)
        except TransientServiceError as exc:
            self.log.warning("Transient error while polling %s (will poll again): %s", self.noun, exc)
        finally:
            self.hook.close()
        if outcome is not None and outcome.failed:
            raise AirflowFailException(outcome.failure_message())
        if outcome is not None and outcome.done:
            return PokeReturnValue(is_done=True, xcom_value=outcome.to_json())
        if self._defer_when_waiting:
            timeout = float(self.timeout) if self.timeout is not None else DEFAULT_DEFERRED_TIMEOUT
            # Having just polled, the trigger waits max(poll_interval, 10 s) before its first poll
            # (docs/running-at-scale.md#scheduler-race); it keeps the absolute end_time.
            delay = first_poll_delay(self.poll_interval)
            self.defer(
                trigger=self.trigger(context, time.time() + timeout, first_poll_delay=delay),
                method_name="execute_complete",
                timeout=timedelta(seconds=timeout),
            )
        return PokeReturnValue(is_done=False)

    def seconds_left(self) -> float | None:
        """What is left of the sensor's ``timeout``, counted from the start of this execution
        (each poke runs within it, plus one request timeout: see ``ServiceHook.time_limit``)."""
        if self.timeout is None:
            return None
        started = getattr(self, "_wait_started", None)
        elapsed = time.monotonic() - started if started is not None else 0.0
        return max(float(self.timeout) - elapsed, 0.0)

    def execute(self, context: Context) -> Any:
        """Airflow's poke loop; ``deferrable`` hands the wait to the triggerer after the first poke."""
        self._wait_started = time.monotonic()
        self.apply_poll_interval()
        self._defer_when_waiting = self.deferrable
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: the outcome, or the matching exception with details."""
        return raise_for_event(event)
