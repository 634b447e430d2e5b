"""Per-item cancel reports (plain JSON for XCom) and the "fail unless told otherwise" rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.models.enums import RuleJobStatus, rule_job_phase

if TYPE_CHECKING:
    from airflow.sdk import Context

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


def vault_cancel_report(results: list[VaultJobCancelResult]) -> dict[str, list[Any]]:
    """``cancelled`` job ids and ``not_cancelled`` items with the service's reason."""
    return {
        "cancelled": [r.job_id for r in results if r.cancelled],
        "not_cancelled": [{"job_id": r.job_id, "reason": r.reason} for r in results if not r.cancelled],
    }


def finish(context: Context, report: dict[str, Any], *, fail: bool, what: str, id_key: str) -> dict[str, Any]:
    """Return the report, or, when items were not cancelled and ``fail``, push it and raise.

    The report is pushed as ``return_value`` before raising, so the per-item outcome is in
    XCom either way.
    """
    leftovers = report.get("not_cancelled") or []
    if leftovers and fail:
        context["ti"].xcom_push(key="return_value", value=report)
        lines = "; ".join(f"{item[id_key]}: {item['reason']}" for item in leftovers)
        raise AirflowException(f"{len(leftovers)} {what} could not be cancelled: {lines}")
    return report
