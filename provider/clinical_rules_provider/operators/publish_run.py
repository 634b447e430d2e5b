"""Switch rules' publish run to ``AllData`` or ``FutureData`` and, optionally, wait for their jobs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseOperator

from clinical_rules_provider._compat import AirflowException, AirflowFailException
from clinical_rules_provider._provider_info import CLINICAL_ONE_DEFAULT_CONN_ID
from clinical_rules_provider.assets import attach_publish_extra, check_outlets
from clinical_rules_provider.job_options import failure_status_set, first_poll_delay
from clinical_rules_provider.links import ClinicalOneRulesLink, push_rules_link
from clinical_rules_provider.models.enums import PublishRun, parse_choice
from clinical_rules_provider.models.times import utc_now
from clinical_rules_provider.task_helpers import (
    ClinicalOneHookMixin,
    as_seconds,
    cancel_rule_jobs_on_kill,
    raise_for_event,
    resolve_study,
    rule_poll_interval,
    run_in_worker,
    seconds_at_parse,
    select_rules,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from clinical_rules_provider.models.clinical_one import PublishRunResult
    from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger


__all__ = ["ClinicalOneUpdatePublishRunOperator"]


class ClinicalOneUpdatePublishRunOperator(ClinicalOneHookMixin, BaseOperator):
    """Update the publish run of rules chosen by id or by filter, reporting each rule's outcome.

    Before anything waits, it pushes the XComs ``rule_ids`` (the rules updated, ``Queued`` and
    ``InProgress`` ones included), ``started_after`` (the default threshold of a downstream
    :class:`ClinicalOneRuleJobSensor`), ``results``, ``warnings``, ``failed`` and
    ``unconfirmed``; the return value holds the same data. A rule not updated fails the task
    unless ``fail_on_partial_failure=False``; a validation warning fails it only with
    ``fail_on_validation_warnings=True``. The guide "Republish rules" describes each value.

    **Retries never apply a rule twice (Airflow 3.3+).** An ``AllData`` update starts a rule
    job each time it is applied, so the publish keeps a ledger in the task state store and a
    retried try reconciles from it instead of sending applied rules again. On Airflow 3.0-3.2
    (no task state store) a failure after rules were applied is an ``AirflowFailException``.

    **Asset events.** A :func:`~clinical_rules_provider.assets.clinical_one_rules_asset` outlet
    gets an event whose extra says what was republished (see the event-driven guide); one
    naming another host, study or mode is refused before any request.

    :param publish_run: ``AllData`` or ``FutureData`` (case-insensitive).
    :param rule_ids: rules to update (either UUID form; an XComArg works).
    :param rule_filter: instead of ``rule_ids``, the ``list_rules`` filters selecting the rules,
        e.g. ``{"rule_states": ["publish"], "enabled": True}``.
    :param study_id: study; default: the connection extra ``study_id``.
    :param study_mode: study mode; default: the connection extra ``study_mode``.
    :param fail_on_partial_failure: fail when any rule was not updated (default ``True``).
    :param fail_on_validation_warnings: also fail when an updated rule came back with
        ``ruleValidationStatus: false`` (default ``False``: such warnings are only reported).
    :param wait_for_completion: also wait until the started rule jobs are terminal
        (``FutureData`` starts no job: nothing to wait for).
    :param deferrable: wait in the triggerer (same semantics as the sensor); default: the
        ``[operators] default_deferrable`` option.
    :param poll_interval: seconds between polls while waiting.
    :param timeout: longest wait (``timedelta`` or seconds, >= 1; templated: a rendered number
        of seconds, numeric strings included).
    :param failure_statuses: terminal job statuses that fail the wait (default: all failures;
        checked when the DAG is parsed).
    :param poll_endpoint: ``rerun_history`` or ``job_status``: how jobs are read while waiting.
    :param cancel_on_kill: cancel the rules' jobs if the task is killed while waiting.
    :param max_concurrency: cap on concurrent requests (default: the connection's).
    :param clinical_one_conn_id: Airflow connection of type ``clinical_one`` (templated).
    """

    template_fields: Sequence[str] = (
        "study_id",
        "study_mode",
        "publish_run",
        "rule_ids",
        "rule_filter",
        "timeout",
        "clinical_one_conn_id",
    )
    template_fields_renderers = {"rule_filter": "json"}
    ui_color = "#c7dcf0"
    operator_extra_links = (ClinicalOneRulesLink(),)

    def __init__(
        self,
        *,
        publish_run: str,
        rule_ids: Any = None,
        rule_filter: dict[str, Any] | None = None,
        study_id: str | None = None,
        study_mode: str | None = None,
        fail_on_partial_failure: bool = True,
        fail_on_validation_warnings: bool = False,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta | str = timedelta(hours=2),
        failure_statuses: Sequence[str] | None = None,
        poll_endpoint: str = "rerun_history",
        cancel_on_kill: bool = False,
        max_concurrency: int | None = None,
        clinical_one_conn_id: str = CLINICAL_ONE_DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (rule_ids is None) == (rule_filter is None):
            raise ValueError("rule_ids / rule_filter: give exactly one of them")
        self.publish_run = publish_run
        self.rule_ids = rule_ids
        self.rule_filter = rule_filter
        self.study_id = study_id
        self.study_mode = study_mode
        self.fail_on_partial_failure = fail_on_partial_failure
        self.fail_on_validation_warnings = fail_on_validation_warnings
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = rule_poll_interval(poll_interval)
        self.timeout: Any = seconds_at_parse(timeout, "timeout", minimum=1.0)
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        failure_status_set(self.failure_statuses)  # not templated: bad statuses fail the DAG parse
        self.poll_endpoint = poll_endpoint
        self.cancel_on_kill = cancel_on_kill
        self.max_concurrency = max_concurrency
        self.clinical_one_conn_id = clinical_one_conn_id
        self._started: tuple[str, str, list[str]] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        """Select, update, push XCom, fail on per-rule failures, then wait if asked."""
        from clinical_rules_provider.exceptions import PublishRunUnconfirmedError
        from clinical_rules_provider.models.clinical_one import dump_json
        from clinical_rules_provider.operators._publish_state import load_ledger, resumed_targets

        self.timeout = as_seconds(self.timeout, "timeout", minimum=1.0)  # rendered now, before any request
        publish_run = parse_choice(self.publish_run, PublishRun, "publish_run").value
        ledger, durable = load_ledger(context, self.log)
        unconfirmed: PublishRunUnconfirmedError | None = None
        hook = self.hook
        with hook:
            study, mode = resolve_study(hook, self.study_id, self.study_mode)
            check_outlets(self.outlets, hook.config.transport.base_url, study, mode)
            push_rules_link(context, hook.get_connection(self.clinical_one_conn_id), study, mode)
            selected = select_rules(hook, study, mode, self.rule_ids, self.rule_filter)
            rule_ids = resumed_targets(ledger, study, mode, publish_run, selected)
            started_after = utc_now()
            results: list[PublishRunResult] = []
            try:
                if rule_ids:
                    results = hook.update_publish_run(study, mode, publish_run, rule_ids, ledger=ledger)
                else:
                    self.log.warning("No rules selected; nothing to update")
            except PublishRunUnconfirmedError as exc:
                unconfirmed, results = exc, exc.results
        updated = [r.rule_id for r in results if r.succeeded and r.rule_id]
        failed = [{"rule_id": r.rule_id, "reason": r.failure_reason} for r in results if not r.succeeded]
        warnings = [{"rule_id": r.rule_id, "warning": r.warning} for r in results if r.warning]
        if unconfirmed is not None:  # the groups the error names, results or not
            updated += [r for r in unconfirmed.applied if r not in updated]
            named = {f["rule_id"] for f in failed}
            failed += [
                {"rule_id": r, "reason": why} for r, why in unconfirmed.failed.items() if r not in named
            ]
        report: dict[str, Any] = {
            "study_id": str(study),
            "study_mode": str(mode),
            "publish_run": publish_run if rule_ids else None,  # None: no rule was selected
            "rule_ids": updated,
            "failed": failed,
            "unconfirmed": unconfirmed.unconfirmed if unconfirmed else [],
            "warnings": warnings,
            "results": dump_json(results),
            "started_after": started_after.isoformat(),
            "reconciled": [r.rule_id for r in results if r.reconciled],
        }
        if report["reconciled"]:
            self.log.warning(
                "These %d rule(s) were applied without a reply reaching this try (a new job, or an "
                "earlier try, shows it), so they were not sent again: %s",
                len(report["reconciled"]),
                ", ".join(report["reconciled"]),
            )
        self._started = (study, mode, updated)
        for key in ("rule_ids", "started_after", "results", "warnings", "failed", "unconfirmed"):
            context["ti"].xcom_push(key=key, value=report[key])
        self.log.info("Updated %d of %d rule(s) to %s", len(updated), len(results), self.publish_run)
        pending = [
            f"{r.rule_id} ({r.job_status})" for r in results if r.succeeded and r.job_status != "Success"
        ]
        if pending:
            self.log.info("Accepted, not yet applied (the wait covers them): %s", ", ".join(pending))
        for w in warnings:
            self.log.warning("Rule %s was updated with a validation warning: %s", w["rule_id"], w["warning"])
        # Without a task state store a retry would send the applied (or maybe applied) rules
        # again: no automatic retry then.
        once = not durable and publish_run == PublishRun.ALL_DATA.value
        if unconfirmed is not None:
            raise self._failure(once, str(unconfirmed))
        no_retry = once and bool(updated)
        if failed and self.fail_on_partial_failure:
            lines = "; ".join(f"{f['rule_id']}: {f['reason']}" for f in failed)
            applied = f"; applied, not to be sent again: {', '.join(updated)}" if updated else ""
            raise self._failure(no_retry, f"{len(failed)} rule(s) were not updated: {lines}{applied}")
        if warnings and self.fail_on_validation_warnings:
            lines = "; ".join(f"{w['rule_id']}: {w['warning']}" for w in warnings)
            raise AirflowException(f"{len(warnings)} updated rule(s) have validation warnings: {lines}")
        if publish_run == PublishRun.FUTURE_DATA.value and self.wait_for_completion and updated:
            self.log.info("FutureData starts no rule job (it applies to data collected from now on): no wait")
        if not self.wait_for_completion or not updated or publish_run == PublishRun.FUTURE_DATA.value:
            self._announce(context, report)
            return report
        trigger = self._trigger(study, mode, updated, report["started_after"])
        if self.deferrable:
            self.defer(
                trigger=trigger,
                method_name="execute_complete",
                kwargs={"report": report},
                timeout=timedelta(seconds=self.timeout),  # the trigger keeps the absolute end_time
            )
        return self.execute_complete(context, run_in_worker(trigger), report)

    @staticmethod
    def _failure(no_retry: bool, message: str) -> AirflowException:
        """The task failure; one Airflow must not retry when a retry could apply rules twice."""
        if no_retry:
            return AirflowFailException(
                f"{message}. Not retried automatically: this Airflow has no task state store, so a "
                "retry could not tell which rules were applied (check them, then publish the rest)"
            )
        return AirflowException(message)

    def _announce(self, context: Context, report: dict[str, Any], jobs: dict[str, Any] | None = None) -> None:
        """Attach what was republished to the event of each ``clinical-one://`` outlet."""
        extra = {
            k: report.get(k) for k in ("study_id", "study_mode", "publish_run", "rule_ids", "started_after")
        }
        extra["job_ids"] = {
            rule: job.get("job_id") for rule, job in ((jobs or {}).get("succeeded") or {}).items()
        }
        if attach_publish_extra(context, self.outlets, extra):
            self.log.info(
                "Asset event extra: %d rule(s) republished to %s",
                len(extra["rule_ids"] or []),
                extra["publish_run"],
            )

    def _trigger(
        self, study: str, mode: str, rule_ids: list[str], started_after: str
    ) -> ClinicalOneRuleJobTrigger:
        """The wait for the jobs just started, in the triggerer or (not deferrable) in the worker."""
        from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger

        return ClinicalOneRuleJobTrigger(
            study_id=study,
            study_mode=mode,
            rule_ids=rule_ids,
            end_time=time.time() + self.timeout,
            started_after=started_after,
            failure_statuses=self.failure_statuses,
            poll_interval=self.poll_interval,
            poll_endpoint=self.poll_endpoint,
            clinical_one_conn_id=self.clinical_one_conn_id,
            max_concurrency=self.max_concurrency,
            cancel_on_kill=self.cancel_on_kill,
            # Deferred, the first poll waits (see first_poll_delay); the worker has no scheduler race.
            first_poll_delay=first_poll_delay(self.poll_interval) if self.deferrable else 0.0,
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any], report: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: return the report with job outcomes, or raise with details."""
        jobs = raise_for_event(event)
        report = report or self._report_from_xcom(context)
        self._announce(context, report, jobs)
        return {**report, "jobs": jobs}

    def _report_from_xcom(self, context: Context) -> dict[str, Any]:
        """The report's core when the resume lost it (``dag.test()`` resumes with the event only)."""
        study, mode = resolve_study(self.hook, self.study_id, self.study_mode)
        pushed = {
            k: context["ti"].xcom_pull(task_ids=self.task_id, key=k) for k in ("rule_ids", "started_after")
        }
        publish_run = parse_choice(self.publish_run, PublishRun, "publish_run").value
        return {"study_id": str(study), "study_mode": str(mode), "publish_run": publish_run, **pushed}

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (the ``openlineage`` extra): see :mod:`clinical_rules_provider.lineage`."""
        from clinical_rules_provider.lineage import publish_task_lineage

        return publish_task_lineage(self, task_instance)

    def on_kill(self) -> None:
        """Cancel the jobs this task started, when ``cancel_on_kill`` is set."""
        if self.cancel_on_kill and self._started and self._started[2]:
            cancel_rule_jobs_on_kill(self.hook, self.log, *self._started)
