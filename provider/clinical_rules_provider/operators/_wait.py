"""The publish operator's wait, in a worker or in the triggerer, with the sensor's semantics."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from clinical_rules_provider._compat import AirflowException, AirflowSensorTimeout

if TYPE_CHECKING:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
    from clinical_rules_provider.job_watch import RuleJobWatch, WatchOutcome

log = logging.getLogger(__name__)


def wait_in_worker(
    hook: ClinicalOneHook,
    study_id: str,
    study_mode: str,
    watch: RuleJobWatch,
    *,
    poll_interval: float,
    timeout: float,
    poll_endpoint: str,
) -> WatchOutcome:
    """Poll until the watch is done; raise on failure statuses or at the deadline.

    Transient poll errors are logged and the poll repeats, as in the trigger.
    """
    from clinical_rules_provider.exceptions import TransientServiceError

    deadline = time.monotonic() + timeout
    while True:
        try:
            outcome = watch.evaluate(
                hook.latest_jobs(
                    study_id,
                    study_mode,
                    list(watch.rule_ids),
                    poll_endpoint=poll_endpoint,
                    history=watch.job_ids is not None,
                )
            )
            if outcome.failed:
                raise AirflowException(outcome.failure_message())
            if outcome.done:
                return outcome
            log.info("Waiting on %d of %d rule job(s)", len(outcome.waiting), len(watch.rule_ids))
        except TransientServiceError as exc:
            log.warning("Transient error while polling rule jobs (will poll again): %s", exc)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AirflowSensorTimeout(f"timed out after {timeout:.0f} s waiting on rule jobs")
        time.sleep(min(poll_interval, remaining))


def raise_for_event(event: dict[str, Any]) -> dict[str, Any]:
    """Turn a rule-job trigger event into a return value or the matching exception."""
    status = event.get("status")
    if status == "success":
        return dict(event.get("outcome") or {})
    if status == "timeout":
        raise AirflowSensorTimeout(event.get("message"))
    raise AirflowException(event.get("message") or f"rule job wait ended with {status!r}")
