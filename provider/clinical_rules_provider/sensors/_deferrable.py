"""What both job sensors share: poke once, then defer or poke on; one verdict per poll."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from clinical_rules_provider._compat import AirflowException

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from clinical_rules_provider.job_watch import Outcome

# Without a sensor timeout, a deferred wait still ends: after a week.
DEFAULT_DEFERRED_TIMEOUT = 7 * 24 * 3600.0


def verdict(outcome: Outcome) -> PokeReturnValue:
    """Raise naming the failed jobs, or say whether the wait is over (outcome as XCom value)."""
    if outcome.failed:
        raise AirflowException(outcome.failure_message())
    return PokeReturnValue(is_done=outcome.done, xcom_value=outcome.to_json() if outcome.done else None)


class DeferrableJobSensor(BaseSensorOperator):
    """A sensor that pokes once and, if ``deferrable`` and not done, defers to :meth:`trigger`.

    Poke, reschedule and deferrable modes return the same value: the outcome of the last poll.
    Having just poked, the sensor tells the trigger to wait one ``poll_interval`` (at least
    10 s) before its first poll: a trigger firing within seconds of ``defer()`` can make
    Airflow's scheduler fail the resumed task (apache/airflow #66374), and an immediate
    second poll learns little.
    """

    poll_interval: float

    def __init__(self, *, deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if deferrable and self.mode == "reschedule":
            raise ValueError("deferrable / mode: a sensor cannot both defer and reschedule; pick one")
        self.deferrable = deferrable

    def trigger(self, context: Context, end_time: float, first_poll_delay: float = 0.0) -> BaseTrigger:
        """The trigger that continues the wait (every parameter of the sensor reaches it)."""
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        """Poke once; if not done and ``deferrable``, hand the wait to the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        timeout = float(self.timeout) if self.timeout is not None else DEFAULT_DEFERRED_TIMEOUT
        from clinical_rules_provider.job_options import first_poll_delay

        delay = first_poll_delay(self.poll_interval)
        trigger = self.trigger(context, time.time() + timeout, first_poll_delay=delay)
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: the outcome, or the matching exception with details."""
        from clinical_rules_provider.operators._wait import raise_for_event

        return raise_for_event(event)
