"""Per-item cancel reports (plain JSON for XCom) and the "fail unless told otherwise" rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.models.enums import RULE_JOB_ACTIVE_STATUSES, RuleJobStatus, rule_job_phase
from clinical_rules_provider.task_helpers import InfoLog

if TYPE_CHECKING:
    from airflow.sdk import Context

    from clinical_rules_provider.hooks.base import ServiceHook
    from clinical_rules_provider.models.clinical_one import CancelRuleJobsResult, RuleJob
    from clinical_rules_provider.models.vault import VaultJobCancelResult


def rule_job_item(job: RuleJob, **extra: Any) -> dict[str, Any]:
    """A rule job as plain JSON."""
    return {
        "rule_id": job.rule_id,
        "job_id": job.job_id,
        "status": job.status,
        "job_start_date": job.job_start_date.isoformat() if job.job_start_date else None,
        **extra,
    }


# Answers about the rule, not about a job: the cancel did nothing, whatever the job is doing.
RULE_STATE_ANSWERS = frozenset(
    s.value
    for s in (
        RuleJobStatus.NOT_IN_PUBLISH_STATE,
        RuleJobStatus.INVALID,
        RuleJobStatus.DISABLED,
        RuleJobStatus.DOES_NOT_EXIST,
    )
)


def rule_cancel_report(result: CancelRuleJobsResult) -> dict[str, list[dict[str, Any]]]:
    """Sort each rule into ``cancelled``, ``already_finished`` or ``not_cancelled`` (with a reason).

    ``Failed to cancel job`` (the job still runs), a job still ``Running``/``Pending`` after
    the call, answers about the rule's state (``Rule is disabled``, ``Rule is not in publish
    state``, ``Rule is invalid``, ``Rule doesn't exist``: they say nothing of a job having
    ended) and rules the service did not report on are not cancelled. Only a job outcome
    (``Success``, ``Failed``, ``Completed with errors``, ...) is ``already_finished``.
    """
    report: dict[str, list[dict[str, Any]]] = {"cancelled": [], "already_finished": [], "not_cancelled": []}
    for job in result.job_status:
        if job.status == RuleJobStatus.CANCELLED.value:
            report["cancelled"].append(rule_job_item(job))
        elif job.status not in RULE_STATE_ANSWERS and rule_job_phase(job.status) in ("success", "failure"):
            report["already_finished"].append(rule_job_item(job))
        else:
            report["not_cancelled"].append(rule_job_item(job, reason=job.status or "no status returned"))
    no_entry = {"job_id": None, "status": None, "reason": "the service returned no entry for this rule"}
    report["not_cancelled"] += [{"rule_id": rule_id, **no_entry} for rule_id in result.missing_rule_ids]
    return report


def _id_key(job_id: str | None) -> str | None:
    """A job id in one form for comparing (the service may answer either UUID form, any case)."""
    return job_id.replace("-", "").upper() if job_id else None


def recheck_stale(
    stale: list[dict[str, Any]], latest: Mapping[str, RuleJob | None]
) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Sort stale rules by their latest job re-read just before the cancel.

    The cancel endpoint takes rule ids and cancels whatever job the rule has then, so only a
    rule whose latest job is still the stale one, still active, is cancelled. Returns
    ``(meant, skipped, already_finished)``: ``meant`` maps each rule to cancel to the stale
    job id; ``skipped`` are rules whose latest job is another one (or unknown), with a
    ``reason``; ``already_finished`` are stale jobs that ended since detection.
    """
    meant: dict[str, str] = {}
    skipped: list[dict[str, Any]] = []
    finished: list[dict[str, Any]] = []
    for item in stale:
        rule_id, job_id = item["rule_id"], item["job_id"]
        now = latest.get(rule_id)
        if now is None:
            reason = "no job found when re-read just before the cancel"
        elif job_id is None:
            reason = "the stale job has no job id to check the cancel against"
        elif _id_key(now.job_id) != _id_key(job_id):
            reason = f"its latest job is now {now.job_id} ({now.status}), not the stale job {job_id}"
        elif now.status not in RULE_JOB_ACTIVE_STATUSES:
            finished.append(rule_job_item(now))
            continue
        else:
            meant[rule_id] = job_id
            continue
        latest_id, latest_status = (now.job_id, now.status) if now is not None else (None, None)
        skipped.append(
            {
                "rule_id": rule_id,
                "job_id": job_id,
                "latest_job_id": latest_id,
                "latest_status": latest_status,
                "reason": reason,
            }
        )
    return meant, skipped, finished


def split_job_mismatches(
    result: CancelRuleJobsResult, meant: Mapping[str, str]
) -> tuple[CancelRuleJobsResult, list[dict[str, Any]]]:
    """Take out the reply entries that name another job than the one meant for their rule.

    Such an entry means the service acted on a job the caller did not mean (a job that
    started after the re-read): each becomes a ``job_mismatch`` item. An entry without a
    ``jobId`` names no job and is judged by its status alone; entries of rules not in
    ``meant`` are kept as they are.
    """
    kept: list[RuleJob] = []
    mismatched: list[dict[str, Any]] = []
    for job in result.job_status:
        want = meant.get(job.rule_id or "")
        if want is None or job.job_id is None or _id_key(job.job_id) == _id_key(want):
            kept.append(job)
            continue
        reason = f"the cancel reply names job {job.job_id} ({job.status}), not the stale job {want}"
        mismatched.append(
            {
                "rule_id": job.rule_id,
                "job_id": want,
                "reply_job_id": job.job_id,
                "reply_status": job.status,
                "reason": reason,
            }
        )
    return result.model_copy(update={"job_status": kept}), mismatched


# Outcome keys in the order a rule's outcome is decided (a later key wins).
RULE_OUTCOMES = ("skipped", "already_finished", "cancelled", "not_cancelled", "job_mismatch")


def rule_outcomes(report: Mapping[str, Any]) -> dict[str, str]:
    """``{rule_id: outcome}`` from a cancel report's lists (a later key in :data:`RULE_OUTCOMES` wins)."""
    return {item["rule_id"]: key for key in RULE_OUTCOMES for item in report.get(key) or []}


class WarnLog(InfoLog, Protocol):
    """A task's logger as far as :func:`log_clock_skew` uses it."""

    def warning(self, msg: Any, /, *args: Any) -> object:
        """Log at WARNING."""


def log_clock_skew(hook: ServiceHook[Any], log: WarnLog, what: str) -> float | None:
    """Log the service clock skew the hook measured (a warning past ``clock_skew_warning``).

    Returns it in seconds (rounded to the millisecond) for the report, or ``None`` without a
    reading. A stale canceller's ``older_than`` is shifted by it; nothing is corrected.
    """
    reading = hook.clock_skew_reading
    if reading is None:
        return None
    log.info(
        "Service clock skew: %+.1f s (\u00b1%.1f s), measured from the HTTP Date header",
        reading.seconds,
        reading.uncertainty,
    )
    if warning := hook.check_clock_skew(what):
        log.warning(warning)
    return round(reading.seconds, 3)


def vault_cancel_report(results: list[VaultJobCancelResult]) -> dict[str, list[Any]]:
    """``cancelled`` job ids and ``not_cancelled`` items with the service's reason."""
    return {
        "cancelled": [r.job_id for r in results if r.cancelled],
        "not_cancelled": [{"job_id": r.job_id, "reason": r.reason} for r in results if not r.cancelled],
    }


def finish(
    context: Context,
    report: dict[str, Any],
    *,
    fail: bool,
    what: str,
    id_key: str,
    fail_on_mismatch: bool = False,
) -> dict[str, Any]:
    """Return the report, or, when items were not cancelled and ``fail`` (or a cancel reply
    named another job and ``fail_on_mismatch``), push it and raise naming each item.

    The report is pushed as ``return_value`` before raising, so the per-item outcome is in
    XCom either way.
    """
    leftovers = (report.get("not_cancelled") or []) if fail else []
    mismatched = (report.get("job_mismatch") or []) if fail_on_mismatch else []
    if leftovers or mismatched:
        context["ti"].xcom_push(key="return_value", value=report)
        problems = []
        if leftovers:
            lines = "; ".join(f"{item[id_key]}: {item['reason']}" for item in leftovers)
            problems.append(f"{len(leftovers)} {what} could not be cancelled: {lines}")
        if mismatched:
            lines = "; ".join(f"{item[id_key]}: {item['reason']}" for item in mismatched)
            problems.append(f"{len(mismatched)} cancel(s) acted on another job than the stale one: {lines}")
        raise AirflowException(". ".join(problems))
    return report
