"""Cancel Clinical One rule jobs: by rule id, or every job running longer than ``older_than``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from clinical_rules_provider._provider_info import CLINICAL_ONE_DEFAULT_CONN_ID
from clinical_rules_provider.models.enums import RULE_JOB_ACTIVE_STATUSES
from clinical_rules_provider.models.refs import PollEndpoint, StudyRef
from clinical_rules_provider.models.times import utc_now
from clinical_rules_provider.operators._reports import (
    finish,
    log_clock_skew,
    recheck_stale,
    rule_cancel_report,
    rule_job_item,
    split_job_mismatches,
)
from clinical_rules_provider.task_helpers import (
    ClinicalOneHookMixin,
    as_bool,
    as_id_list,
    as_seconds,
    resolve_study,
    seconds_at_parse,
    select_rules,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from clinical_rules_provider.models.clinical_one import RuleJob


__all__ = ["ClinicalOneCancelRuleJobsOperator", "ClinicalOneCancelStaleRuleJobsOperator"]

# The stale canceller's outcome lists, filled by the cancel (empty in a dry run).
_REPORT_LISTS = ("skipped", "cancelled", "already_finished", "not_cancelled", "job_mismatch", "messages")
# The outcome lists in the order a rule's outcome is decided (a later one wins).
_OUTCOME_ORDER = ("skipped", "already_finished", "cancelled", "not_cancelled", "job_mismatch")


class _RuleJobsOperator(ClinicalOneHookMixin, BaseOperator):
    """Connection, study and failure switches shared by the two rule-job cancellers."""

    ui_color = "#f0c7c7"

    def __init__(
        self,
        *,
        study_id: str | None = None,
        study_mode: str | None = None,
        fail_on_not_cancelled: bool = True,
        max_concurrency: int | None = None,
        clinical_one_conn_id: str = CLINICAL_ONE_DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.study_id = study_id
        self.study_mode = study_mode
        self.fail_on_not_cancelled = fail_on_not_cancelled
        self.max_concurrency = max_concurrency
        self.clinical_one_conn_id = clinical_one_conn_id

    def _cancel(
        self,
        study: StudyRef,
        rule_ids: list[str],
        report: dict[str, Any],
        meant: dict[str, str] | None = None,
    ) -> None:
        """Cancel and add each rule's outcome to ``report``; with ``meant`` (rule id -> the job
        id the cancel is for), reply entries naming another job go to ``job_mismatch``."""
        result = self.hook.cancel_rule_jobs(*study, rule_ids)
        if meant is not None:
            result, mismatched = split_job_mismatches(result, meant)
            report["job_mismatch"] = mismatched
            for item in mismatched:
                self.log.warning("Rule %s: %s", item["rule_id"], item["reason"])
        for key, items in rule_cancel_report(result).items():
            report.setdefault(key, []).extend(items)
        # The service's overall outcome text when it is not "Success": reported, but the
        # per-rule statuses decide whether the task fails.
        report["messages"] = list(result.messages)
        for message in result.messages:
            self.log.warning("The cancel service reported: %s", message)
        self.log.info(
            "Cancelled %d, already finished %d, not cancelled %d",
            len(report["cancelled"]),
            len(report["already_finished"]),
            len(report["not_cancelled"]),
        )


class ClinicalOneCancelRuleJobsOperator(_RuleJobsOperator):
    """Cancel the pending/running job of each rule and report every rule's outcome.

    Returns ``cancelled``, ``already_finished``, ``not_cancelled`` (which fails the task
    unless ``fail_on_not_cancelled=False``) and ``messages`` (the service's outcome text when
    it is not ``Success``), as the guide "Cancel stale jobs" describes.

    :param rule_ids: rules whose jobs to cancel (either UUID form; an XComArg works; one id,
        comma-separated ids or a JSON list as a string work too, for templates).
    :param study_id: study; default: the connection extra ``study_id``.
    :param study_mode: study mode; default: the connection extra ``study_mode``.
    :param fail_on_not_cancelled: fail the task when a rule's job was not cancelled (default ``True``).
    :param max_concurrency: cap on concurrent requests (default: the connection's).
    :param clinical_one_conn_id: Airflow connection of type ``clinical_one`` (templated).
    """

    template_fields: Sequence[str] = ("study_id", "study_mode", "rule_ids", "clinical_one_conn_id")

    def __init__(self, *, rule_ids: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule_ids = rule_ids

    def execute(self, context: Context) -> dict[str, Any]:
        """Cancel and report."""
        with self.hook:
            study = resolve_study(self.hook, self.study_id, self.study_mode)
            rule_ids = as_id_list(self.rule_ids, "rule_ids")
            report: dict[str, Any] = {"study_id": str(study.study_id), "study_mode": str(study.mode)}
            self._cancel(study, rule_ids, report)
            return finish(context, report, self.fail_on_not_cancelled, "rule job(s)", "rule_id")


class ClinicalOneCancelStaleRuleJobsOperator(_RuleJobsOperator):
    """Find rules whose latest job is ``Running``/``Pending`` and started more than ``older_than``
    ago, and cancel them (``dry_run=True`` only reports).

    **By job, not by rule.** The cancel endpoint cancels whatever job a rule has when it
    arrives, so the stale rules' latest jobs are read again just before the cancel and only
    rules still on their stale job are cancelled; a reply entry naming another job is a
    ``job_mismatch``. The clock skew to the service is logged and reported, never corrected
    for. The guide "Cancel stale jobs" describes the return value.

    :param older_than: a job is stale once running/pending at least this long (``timedelta``
        or seconds, >= 1; templated: a rendered number of seconds, numeric strings included).
    :param rule_ids: rules to check (either UUID form); default: those ``rule_filter`` selects.
    :param rule_filter: the ``list_rules`` filters selecting the rules (default: every rule).
    :param dry_run: only report what would be cancelled (templated; the attribute shadows
        the legacy ``BaseOperator.dry_run()``, so that the design's name stays templatable).
    :param poll_endpoint: ``rerun_history`` (one request per rule) or ``job_status`` (bulk).
    :param study_id: study; default: the connection extra ``study_id``.
    :param study_mode: study mode; default: the connection extra ``study_mode``.
    :param fail_on_not_cancelled: fail the task when a rule's job was not cancelled (default ``True``).
    :param fail_on_job_mismatch: fail the task when a cancel reply names another job than
        the stale one (default ``True``); ``False`` only logs a warning per rule.
    :param max_concurrency: cap on concurrent requests (default: the connection's).
    :param clinical_one_conn_id: Airflow connection of type ``clinical_one`` (templated).
    """

    template_fields: Sequence[str] = (
        "study_id",
        "study_mode",
        "rule_ids",
        "rule_filter",
        "older_than",
        "dry_run",
        "clinical_one_conn_id",
    )
    template_fields_renderers = {"rule_filter": "json"}

    def __init__(
        self,
        *,
        older_than: timedelta | float | str = timedelta(hours=1),
        rule_ids: Any = None,
        rule_filter: dict[str, Any] | None = None,
        dry_run: bool | str = False,
        poll_endpoint: str = "rerun_history",
        fail_on_job_mismatch: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if rule_ids is not None and rule_filter is not None:
            raise ValueError("rule_ids / rule_filter: give at most one of them")
        self.fail_on_job_mismatch = fail_on_job_mismatch
        self.poll_endpoint = PollEndpoint.of(poll_endpoint)
        self.older_than = seconds_at_parse(older_than, "older_than", minimum=1.0)
        self.rule_ids = rule_ids
        self.rule_filter = rule_filter
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]

    def execute(self, context: Context) -> dict[str, Any]:
        """Detect, re-read the stale rules, then cancel those still on their stale job (or
        only report when ``dry_run``)."""
        dry_run = as_bool(self.dry_run, "dry_run")
        older_than = as_seconds(self.older_than, "older_than", minimum=1.0)  # rendered now
        hook = self.hook
        with hook:
            study = resolve_study(hook, self.study_id, self.study_mode)
            rule_ids = select_rules(hook, *study, self.rule_ids, self.rule_filter)
            cutoff = utc_now() - timedelta(seconds=older_than)
            jobs = self._latest(study, rule_ids)
            stale = [
                rule_job_item(job, rule_id=rule_id)
                for rule_id, job in jobs.items()
                if job
                and job.status in RULE_JOB_ACTIVE_STATUSES
                and job.job_start_date
                and job.job_start_date <= cutoff
            ]
            report: dict[str, Any] = {
                "study_id": str(study.study_id),
                "study_mode": str(study.mode),
                "checked_rules": len(rule_ids),
                "older_than_seconds": older_than,
                "clock_skew_seconds": log_clock_skew(hook, self.log, "older_than"),
                "dry_run": dry_run,
                "stale": stale,
                **{key: [] for key in _REPORT_LISTS},
                "outcomes": {},
            }
            self.log.info(
                "%d of %d rule(s) have a job running since before %s",
                len(stale),
                len(rule_ids),
                cutoff.isoformat(),
            )
            if dry_run or not stale:
                report["outcomes"] = dict.fromkeys((s["rule_id"] for s in stale), "dry_run")
                return report
            # Just before the cancel: only rules still on their stale job are cancelled.
            meant, report["skipped"], report["already_finished"] = recheck_stale(
                stale, self._latest(study, [s["rule_id"] for s in stale])
            )
            for item in report["skipped"]:
                self.log.info("Rule %s skipped: %s", item["rule_id"], item["reason"])
            if meant:
                self._cancel(study, list(meant), report, meant=meant)
            report["outcomes"] = {item["rule_id"]: key for key in _OUTCOME_ORDER for item in report[key]}
            return finish(
                context,
                report,
                self.fail_on_not_cancelled,
                "rule job(s)",
                "rule_id",
                self.fail_on_job_mismatch,
            )

    def _latest(self, study: StudyRef, rule_ids: list[str]) -> dict[str, RuleJob | None]:
        """Each rule's latest job, read with ``poll_endpoint`` (none when there are no rules)."""
        from clinical_rules_provider.models.clinical_one import latest_job

        if not rule_ids:
            return {}
        jobs = self.hook.latest_jobs(*study, rule_ids, poll_endpoint=self.poll_endpoint)
        return {rule_id: latest_job(history) for rule_id, history in jobs.items()}
