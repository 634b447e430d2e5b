"""Per-item cancel reports (plain JSON for XCom) and the "fail unless told otherwise" rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.models.enums import RULE_JOB_ACTIVE_STATUSES, RuleJobStatus, rule_job_phase
from clinical_rules_provider.task_helpers import InfoLog

if TYPE_CHECKING:
    from airflow.sdk import Context

    from clinical_rules_provider.hooks.base import ServiceHook
    from clinical_rules_provider.models.clinical_one import CancelRuleJobsResult, RuleJob


def rule_job_item(job: RuleJob, **extra: Any) -> dict[str, Any]:
    """A rule job as plain JSON."""
    return {
        "rule_id": job.rule_id,
        "job_id": job.job_id,
        "status": job.status,
        "job_start_date": job.job_start_date.isoformat() if job.job_start_date else None,
        **extra,
    }


# Answers about the rule ("Rule is disabled", ...), not about a job: the cancel did nothing,
# whatever the job is doing.
RULE_STATE_ANSWERS = frozenset(s.value for s in RuleJobStatus if s.value.startswith("Rule "))


def rule_cancel_report(result: CancelRuleJobsResult) -> dict[str, list[dict[str, Any]]]:
    """Sort each rule into ``cancelled``, ``already_finished`` (a job outcome only) or
    ``not_cancelled`` (with a reason: the job still runs, an answer about the rule's state,
    or no entry for the rule)."""
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
    """Sort stale rules by their latest job re-read just before the cancel, which cancels
    whatever job a rule has then: ``(meant, skipped, already_finished)``. ``meant`` maps each
    rule still on its stale, active job to that job id; ``skipped`` (with a ``reason``) are the
    rules whose latest job is another one or unknown."""
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
        seen = {"latest_job_id": getattr(now, "job_id", None), "latest_status": getattr(now, "status", None)}
        skipped.append({"rule_id": rule_id, "job_id": job_id, **seen, "reason": reason})
    return meant, skipped, finished


def split_job_mismatches(
    result: CancelRuleJobsResult, meant: Mapping[str, str]
) -> tuple[CancelRuleJobsResult, list[dict[str, Any]]]:
    """Take out, as ``job_mismatch`` items, the reply entries naming another job than the one
    ``meant`` for their rule (the service acted on a job started after the re-read). An entry
    without a ``jobId`` is judged by its status alone."""
    kept: list[RuleJob] = []
    mismatched: list[dict[str, Any]] = []
    for job in result.job_status:
        want = meant.get(job.rule_id or "")
        if want is None or job.job_id is None or _id_key(job.job_id) == _id_key(want):
            kept.append(job)
            continue
        reply = {"reply_job_id": job.job_id, "reply_status": job.status}
        reason = f"the cancel reply names job {job.job_id} ({job.status}), not the stale job {want}"
        mismatched.append({"rule_id": job.rule_id, "job_id": want, **reply, "reason": reason})
    return result.model_copy(update={"job_status": kept}), mismatched


def log_clock_skew(hook: ServiceHook[Any], log: InfoLog, what: str) -> float | None:
    """Log the service clock skew the hook measured (a warning past ``clock_skew_warning``) and
    return it in seconds for the report (``None``: no reading). Nothing is corrected for it."""
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


def finish(
    context: Context, report: dict[str, Any], fail: bool, what: str, id_key: str, on_mismatch: bool = False
) -> dict[str, Any]:
    """Return the report; or, when items were not cancelled and ``fail`` (or a cancel reply
    named another job and ``on_mismatch``), push it as ``return_value`` first (the per-item
    outcome is in XCom either way) and raise naming each item."""
    checks = (
        ("not_cancelled", fail, f"{what} could not be cancelled"),
        ("job_mismatch", on_mismatch, "cancel(s) acted on another job than the stale one"),
    )
    problems = []
    for key, enabled, label in checks:
        if enabled and (items := report.get(key)):
            lines = "; ".join(f"{item[id_key]}: {item['reason']}" for item in items)
            problems.append(f"{len(items)} {label}: {lines}")
    if problems:
        context["ti"].xcom_push(key="return_value", value=report)
        raise AirflowException(". ".join(problems))
    return report
