"""Wait until the rule jobs a pipeline started reach a terminal status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf

from clinical_rules_provider._provider_info import CLINICAL_ONE_DEFAULT_CONN_ID
from clinical_rules_provider.job_options import check_poll_endpoint, failure_status_set
from clinical_rules_provider.links import ClinicalOneRulesLink, push_rules_link
from clinical_rules_provider.models.enums import StudyMode
from clinical_rules_provider.models.refs import CompactId, StudyRef
from clinical_rules_provider.models.times import as_aware_datetime
from clinical_rules_provider.sensors._deferrable import DeferrableJobSensor
from clinical_rules_provider.task_helpers import (
    MIN_RULE_POLL_INTERVAL,
    ClinicalOneHookMixin,
    as_id_list,
    cancel_rule_jobs_on_kill,
    resolve_study,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from clinical_rules_provider.job_watch import RuleJobWatch, WatchOutcome
    from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger


class ClinicalOneRuleJobSensor(ClinicalOneHookMixin, DeferrableJobSensor):
    """Succeeds when every rule's relevant job succeeded; fails naming each rule whose job failed.

    A job is *relevant* when its ``jobId`` is in ``job_ids`` or, without them, when it started
    at/after ``started_after`` (default: the ``started_after`` XCom of an upstream
    :class:`ClinicalOneUpdatePublishRunOperator`, else the data interval start), so jobs older
    than this run never count. Every mode gives the same results; a failure status raises
    :class:`AirflowFailException` (no retries; ``soft_fail=True`` skips). See
    docs/guides/gate-on-rule-jobs.md.

    :param rule_ids: rules to watch (ids in either UUID form; an XComArg works). A string
        (what a template renders) is one id, comma-separated ids, or a JSON list.
    :param study_id: study; default: the connection extra ``study_id``.
    :param study_mode: ``design``, ``test``, ``training``, ``production`` or ``active``;
        default: the connection extra ``study_mode``.
    :param job_ids: only these jobs count (``started_after`` is then ignored); a string is
        read like ``rule_ids``.
    :param started_after: aware datetime or ISO string.
    :param failure_statuses: terminal statuses that fail the sensor (default: all failure
        statuses, ``Cancelled`` included).
    :param poll_interval: seconds (or a ``timedelta``) between polls, in the worker and in the
        triggerer; also Airflow's ``poke_interval`` unless that is given. Templated (a rendered
        number or numeric string), so a run can choose it.
    :param poll_endpoint: ``rerun_history`` (one request per rule, concurrently) or
        ``job_status`` (bulk endpoint, one request per 500 rules).
    :param deferrable: wait in the triggerer instead of holding a worker slot (default: the
        ``[operators] default_deferrable`` option).
    :param cancel_on_kill: cancel the rules' jobs if the task is killed while waiting (in any
        mode; deferred, on Airflow 3.3+).
    :param max_concurrency: cap on concurrent requests per poll.
    :param clinical_one_conn_id: Airflow connection of type ``clinical_one`` (templated).
    """

    template_fields: Sequence[str] = (
        "study_id",
        "study_mode",
        "rule_ids",
        "job_ids",
        "started_after",
        "poll_interval",
        "clinical_one_conn_id",
    )
    operator_extra_links = (ClinicalOneRulesLink(),)
    noun = "rule jobs"
    refused_below = MIN_RULE_POLL_INTERVAL

    def __init__(
        self,
        *,
        rule_ids: Any,
        study_id: str | None = None,
        study_mode: str | None = None,
        job_ids: Any = None,
        started_after: datetime | str | None = None,
        failure_statuses: Sequence[str] | None = None,
        poll_interval: float | timedelta | str = 30.0,
        poll_endpoint: str = "rerun_history",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = False,
        max_concurrency: int | None = None,
        clinical_one_conn_id: str = CLINICAL_ONE_DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(poll_interval=poll_interval, deferrable=deferrable, **kwargs)
        self.rule_ids = rule_ids
        self.study_id = study_id
        self.study_mode = study_mode
        self.job_ids = job_ids
        self.started_after = started_after
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        self.poll_endpoint = check_poll_endpoint(poll_endpoint)
        self.cancel_on_kill = cancel_on_kill
        self.max_concurrency = max_concurrency
        self.clinical_one_conn_id = clinical_one_conn_id
        self._resolved: tuple[CompactId, StudyMode, RuleJobWatch] | None = None
        self._resolved_for: Context | None = None
        self._skew_warned = False

        failure_status_set(self.failure_statuses)  # reject bad statuses when the DAG is parsed

    def _threshold(self, context: Context) -> datetime | None:
        explicit = as_aware_datetime(self.started_after, "started_after")
        if explicit is not None or self.job_ids is not None:
            return explicit
        upstream = sorted(self.upstream_task_ids)
        if upstream:
            pushed = context["ti"].xcom_pull(task_ids=upstream, key="started_after")
            values = [pushed] if isinstance(pushed, str) else [v for v in pushed or [] if v]
            if values:
                return max(as_aware_datetime(v, "started_after") for v in values)  # type: ignore[type-var]
        dag_run = context.get("dag_run")
        start = (
            context.get("data_interval_start")
            or context.get("logical_date")
            or getattr(dag_run, "run_after", None)  # Airflow 3 manual runs may have no interval
            or getattr(dag_run, "start_date", None)
        )
        return as_aware_datetime(start, "data_interval_start")

    def _resolve(self, context: Context) -> tuple[CompactId, StudyMode, RuleJobWatch]:
        """Study, mode and watch, parsed once per execution (the boundary) and reused by every
        poll: ids, statuses and ``started_after`` are trusted below this."""
        from clinical_rules_provider.job_watch import RuleJobWatch

        if self._resolved is None or self._resolved_for is not context:
            self._resolved_for = context  # one execution, one context: every poke of it reuses this
            study, mode = StudyRef.of(*resolve_study(self.hook, self.study_id, self.study_mode))
            watch = RuleJobWatch.create(
                as_id_list(self.rule_ids, "rule_ids"),
                started_after=self._threshold(context),
                job_ids=as_id_list(self.job_ids, "job_ids"),
                failure_statuses=self.failure_statuses,
            )
            self._resolved = (study, mode, watch)
        return self._resolved

    def execute(self, context: Context) -> Any:
        """Parse what the wait watches and push the study's rules link (before any wait), then wait."""
        self._resolved = None
        study, mode, _ = self._resolve(context)
        push_rules_link(context, self.hook.get_connection(self.clinical_one_conn_id), study, str(mode))
        return super().execute(context)

    def poll(self, context: Context) -> WatchOutcome:
        """The rules' latest jobs, judged by the watch; every mode returns the same value (the
        outcome dict of :meth:`WatchOutcome.to_json`)."""
        study, mode, watch = self._resolve(context)
        jobs = self.hook.latest_jobs(
            study,
            mode,
            watch.rule_ids,  # checked values: the hook trusts them (validated once per execution)
            poll_endpoint=self.poll_endpoint,
            history=watch.job_ids is not None,
        )
        # started_after is this worker's time, jobStartDate the service's: show a skew (once).
        if not (self._skew_warned or watch.job_ids is not None) and (
            warning := self.hook.check_clock_skew("started_after")
        ):
            self.log.warning(warning)
            self._skew_warned = True
        outcome = watch.evaluate(jobs)
        for rule, why in sorted(outcome.waiting.items()):
            self.log.info("Rule %s: %s", rule, why)
        return outcome

    def trigger(
        self, context: Context, end_time: float, first_poll_delay: float = 0.0
    ) -> ClinicalOneRuleJobTrigger:
        """The :class:`ClinicalOneRuleJobTrigger` carrying every parameter of this sensor."""
        from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger

        study, mode, watch = self._resolve(context)
        return ClinicalOneRuleJobTrigger(
            study_id=str(study),
            study_mode=str(mode),
            rule_ids=list(watch.rule_ids),
            end_time=end_time,
            started_after=watch.started_after,
            job_ids=sorted(watch.job_ids) if watch.job_ids is not None else None,
            failure_statuses=self.failure_statuses,
            poll_interval=self.poll_interval,
            poll_endpoint=self.poll_endpoint,
            clinical_one_conn_id=self.clinical_one_conn_id,
            max_concurrency=self.max_concurrency,
            cancel_on_kill=self.cancel_on_kill,
            first_poll_delay=first_poll_delay,
        )

    def on_kill(self) -> None:
        """In poke/reschedule mode, cancel the watched rules' jobs when ``cancel_on_kill`` is set
        (deferred, the trigger's ``on_kill`` does this on Airflow 3.3+)."""
        if self.cancel_on_kill and self._resolved is not None:
            study, mode, watch = self._resolved
            cancel_rule_jobs_on_kill(self.hook, self.log, study, mode, list(watch.rule_ids))
